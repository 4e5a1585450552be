"""Reading links published for nbgitpuller and nbhosting: which repository, course and
file they mean, and that hostile ones are refused with a reason.

The links are built as the real tools build them: nbgitpuller's link generator
(jupyterhub/nbgitpuller at f7dce435, docs/_static/link_gen/link.js: generateRegularUrl,
apps[...].generateUrlPath, generateCloneDirectoryName) and nbhosting's URL patterns
(parmentelat/nbhosting at eb57430a, django/nbh_main/urls.py).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from coursehub.courses.legacy_links import (
    LegacyLinkError,
    courses_for_repo,
    nbhosting_candidates,
    nbhosting_notebook,
    read_git_pull,
    repo_key,
)

APPS = {  # link.js: apps[...].generateUrlPath
    "classic": lambda p: "tree/" + p,
    "retrolab": lambda p: "retro/tree/" + p,
    "jupyterlab": lambda p: "lab/tree/" + p,
}


def clone_directory_name(repo: str) -> str:
    """link.js generateCloneDirectoryName."""
    last = repo.split("/")[-1]
    last = last.split(":")[-1]
    return last[:-4] if last.endswith(".git") else last.removesuffix(".bundle")


def generator_link(
    repo: str, file: str, app: str = "jupyterlab", branch: str = "", target: str = ""
) -> str:
    """link.js generateRegularUrl(hub, '', urlPath, repo, branch, targetPath)."""
    urlpath = APPS[app](clone_directory_name(repo) + "/" + file)
    params = {"repo": repo, "urlpath": urlpath}
    if branch:
        params["branch"] = branch
    if target:
        params["targetPath"] = target
    return "https://hub.example.org/hub/user-redirect/git-pull?" + urlencode(params)


def read(link: str):  # noqa: ANN201
    return read_git_pull(dict(parse_qsl(urlsplit(link).query)))


@pytest.mark.parametrize(
    "spelling",
    [
        "https://github.com/org/Course",
        "https://github.com/org/Course.git",
        "https://github.com/org/Course/",
        "https://GitHub.COM/org/Course.git/",
        "http://github.com/org/Course",
        "https://github.com:443/org/Course",
        "https://someone:tok@github.com/org/Course.git",
        "git@github.com:org/Course.git",
        "ssh://git@github.com/org/Course",
        "git://github.com/org/Course",
        "  https://github.com//org/Course  ",
    ],
)
def test_one_repository_however_it_is_spelled(spelling: str) -> None:
    assert repo_key(spelling) == repo_key("https://github.com/org/Course")


def test_different_repositories_stay_different() -> None:
    key = repo_key("https://github.com/org/course")
    for other in (
        "https://github.com/org/course-2024",
        "https://gitlab.com/org/course",
        "https://github.com/other/course",
        "https://github.com:8443/org/course",
        "https://github.com/org",
    ):
        assert repo_key(other) != key, other
    assert repo_key("/srv/courses/algebra") == repo_key("file:///srv/courses/algebra/")
    assert repo_key("/srv/courses/algebra") != repo_key("https://srv/courses/algebra")


COURSES = [
    ("algebra", "https://github.com/uni/Algebra.git", "main"),
    ("algebra-2025", "https://github.com/uni/algebra", "term-2025"),
    ("physics", "/srv/repos/physics", "main"),
]


def test_a_link_finds_its_course_exactly_then_by_branch_then_whatever_the_case() -> None:
    assert courses_for_repo("https://github.com/uni/Algebra", None, COURSES) == ["algebra"]
    # case differs: both courses of the repository, the link's branch first
    assert courses_for_repo("https://github.com/UNI/ALGEBRA", "term-2025", COURSES) == [
        "algebra-2025"
    ]
    assert courses_for_repo("file:///srv/repos/physics", "main", COURSES) == ["physics"]
    assert courses_for_repo("https://github.com/uni/geometry", None, COURSES) == []
    assert courses_for_repo("", None, COURSES) == []
    assert courses_for_repo("/", None, COURSES) == []


def test_links_from_nbgitpullers_generator_name_the_file_inside_the_repository() -> None:
    repo = "https://github.com/uni/Algebra.git"
    for app in APPS:
        link = read(generator_link(repo, "week 1/intro.ipynb", app=app, branch="main"))
        assert link.repo == repo and link.branch == "main"
        assert link.candidates[0] == "week 1/intro.ipynb", app
    # the docs' JupyterLab form, with %3Fautodecode; and a targetPath
    docs = {"repo": repo, "urlpath": "/lab/tree/Algebra/week1/intro.ipynb%3Fautodecode"}
    assert read_git_pull(docs).candidates[0] == "week1/intro.ipynb"
    moved = read(generator_link(repo, "x.ipynb", target="courses/alg"))
    assert moved.candidates[0] != "x.ipynb"  # the clone folder is the target, not the repo
    targeted = {
        "repo": repo,
        "urlpath": "lab/tree/courses/alg/x.ipynb",
        "targetPath": "courses/alg",
    }
    assert read_git_pull(targeted).candidates[0] == "x.ipynb"
    # an NBGITPULLER_PARENTPATH in front of the clone folder, and a percent-encoded name
    nested = {"repo": repo, "urlpath": "lab/tree/parent/Algebra/caf%C3%A9.ipynb"}
    assert read_git_pull(nested).candidates[0] == "café.ipynb"


def test_links_without_urlpath_use_subpath_and_app() -> None:
    repo = "https://github.com/uni/algebra"
    sub = read_git_pull({"repo": repo, "subPath": "week1/intro.ipynb", "app": "lab"})
    assert sub.candidates == ("week1/intro.ipynb",)
    assert read_git_pull({"repo": repo, "subpath": "week1/"}).candidates == ("week1",)
    assert read_git_pull({"repo": repo}).candidates == ()  # the whole repository
    for urlpath in ("lab", "rstudio/", "shiny/app/", "lab/tree/algebra/", "tree"):
        assert read_git_pull({"repo": repo, "urlpath": urlpath}).candidates == (), urlpath


@pytest.mark.parametrize(
    "urlpath",
    [
        "//evil.example/lab/tree/x.ipynb",
        "https://evil.example/lab",
        "javascript:alert(1)",
        "HTTPS://evil.example",
        "/\\evil.example",
        "data:text/html,x",
    ],
)
def test_a_urlpath_to_another_site_is_refused_with_a_reason(urlpath: str) -> None:
    with pytest.raises(LegacyLinkError, match="not a path on this site"):
        read_git_pull({"repo": "https://github.com/uni/algebra", "urlpath": urlpath})


def test_traversal_in_a_link_stays_in_the_candidates_for_the_path_check() -> None:
    # ../ (plain or percent-encoded) is not resolved here: the caller's path check
    # (courses/paths.py) refuses every '..' component with its reason
    repo = "https://github.com/uni/algebra"
    for urlpath in ("lab/tree/algebra/../../etc/passwd", "lab/tree/algebra/..%2F..%2Fetc%2Fpasswd"):
        candidates = read_git_pull({"repo": repo, "urlpath": urlpath}).candidates
        assert candidates and all(".." in c.split("/") for c in candidates), candidates


def test_a_link_without_repository_or_with_huge_values_is_refused() -> None:
    with pytest.raises(LegacyLinkError, match="names no repository"):
        read_git_pull({"urlpath": "lab/tree/x.ipynb"})
    with pytest.raises(LegacyLinkError, match="longer than"):
        read_git_pull({"repo": "https://x/" + "a" * 5000})


def test_nbhosting_urls_name_the_notebook_and_never_the_student() -> None:
    # urls.py: ^notebookLazyCopy/{COURSE}/{NOTEBOOK}/{STUDENT}/?$, NOTEBOOK with or
    # without .ipynb (up to twice)
    assert nbhosting_notebook("w1/w1-s1-c1-intro/student42") == "w1/w1-s1-c1-intro"
    assert nbhosting_notebook("w1/intro.ipynb/student42/") == "w1/intro.ipynb"
    assert nbhosting_candidates("w1/intro") == ("w1/intro.ipynb", "w1/intro.py", "w1/intro.md")
    assert nbhosting_candidates("w1/intro.ipynb.ipynb")[0] == "w1/intro.ipynb"
    assert nbhosting_candidates("w1/intro.py") == ("w1/intro.py",)
    with pytest.raises(LegacyLinkError, match="no notebook"):
        nbhosting_notebook("student42")


# Links published on real course pages (found in public repositories' READMEs and docs),
# as their query arrives: (query, repository, path in it or None for the course's page).
PUBLISHED = [
    (  # cybergis/cybergis-compute-python-sdk README: a space in the name, classic UI
        "repo=https%3A%2F%2Fgithub.com%2Fcybergis%2Fcybergis-compute-python-sdk&branch=v2"
        "&urlpath=tree%2Fcybergis-compute-python-sdk%2FRIF_UI_NBK%2FiPython%20Widget.ipynb",
        "https://github.com/cybergis/cybergis-compute-python-sdk",
        "RIF_UI_NBK/iPython Widget.ipynb",
    ),
    (  # csdms/hrt_workshop: a doubled slash in the repository, the whole repository
        "repo=https%3A%2F%2Fgithub.com%2F%2Fcsdms%2Fhrt_workshop"
        "&urlpath=lab%2Ftree%2Fhrt_workshop%3Fautodecode&branch=master",
        "https://github.com/csdms/hrt_workshop",
        None,
    ),
    (  # OpenOSOrg/openos book: slashes left unencoded
        "repo=https%3A//github.com/OpenOSOrg/openos"
        "&urlpath=lab/tree/openos/content/scheduling/review.ipynb&branch=main",
        "https://github.com/OpenOSOrg/openos",
        "content/scheduling/review.ipynb",
    ),
    (  # OGGM docs: the link went through HTML, its parts joined by an escaped &amp;
        "repo=https://github.com/OGGM/tutorials%26amp%3Bbranch=master%26amp%3B"
        "urlpath=lab/tree/tutorials/notebooks/welcome.ipynb%3Fautodecode",
        "https://github.com/OGGM/tutorials",
        "notebooks/welcome.ipynb",
    ),
    (  # Berkeley's R hub: RStudio, no file
        "repo=https%3A%2F%2Fgithub.com%2Fevictionresearch%2FSOC-N100-Housing-Precarity-2026"
        "&urlpath=rstudio%2F",
        "https://github.com/evictionresearch/SOC-N100-Housing-Precarity-2026",
        None,
    ),
    (  # AstroInteractives' set-up notes: appmode's apps/ page (its repository is
        # written <repo_URL_encoded> there; a fork's URL stands in for it)
        "repo=https%3A%2F%2Fgithub.com%2Fsome-teacher%2FAstroInteractives"
        "&urlpath=apps/AstroInteractives/index.ipynb&app=notebook",
        "https://github.com/some-teacher/AstroInteractives",
        "index.ipynb",
    ),
]


@pytest.mark.parametrize(("query", "repo", "path"), PUBLISHED)
def test_links_published_on_real_course_pages_are_read(
    query: str, repo: str, path: str | None
) -> None:
    link = read_git_pull(dict(parse_qsl(query)))
    assert repo_key(link.repo) == repo_key(repo)
    assert (link.candidates[0] if link.candidates else None) == path
