"""nbgitpuller and nbhosting links through the service, below the browser: the site
paths move the link under the service's prefix without reading the caller, the signed-in
pages find the caller's course and redirect to the stable link, and hostile links never
send a browser anywhere else.

The hub is faked (tests/helpers/fake_hub.py); the courses, their git checkouts and the
database are real. tests/integration/courses/test_legacy_links_hub.py follows the same
links through a real hub to the student's copy in JupyterLab.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.store import CourseStore
from coursehub.service.context import context_of
from tests.helpers.coursedb import add_courses, open_database, sqlite_url
from tests.helpers.fake_hub import PREFIX, bearer, client, service_on
from tests.helpers.gitrepo import make_repo

NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
JUPYTEXT = "# ---\n# jupyter:\n#   jupytext:\n#     formats: py:percent\n# ---\n\n# %%\n1\n"
STUDENT = bearer("tok-student")  # sam, a student of algebra only


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    root = tmp_path_factory.mktemp("legacy-links")
    algebra = make_repo(
        root / "Algebra",
        {
            "week 1/intro.ipynb": NOTEBOOK,
            "week1/exercise.py": JUPYTEXT,
            "week1/data.csv": "a,b\n",
            "README.md": "# not a notebook\n",
        },
    )
    (algebra / "week1" / "escape.ipynb").symlink_to("/etc/passwd")
    physics = make_repo(root / "physics", {"intro.ipynb": NOTEBOOK})
    db = open_database(sqlite_url(root, "c.sqlite"))
    store = CourseStore(db, DataLayout(root / "data"))
    add_courses(store, algebra, {"algebra": {"sam": "student"}})
    add_courses(store, physics, {"physics": {"tara": "instructor"}})
    db.engine.dispose()
    return service_on(sqlite_url(root, "c.sqlite"), root / "data"), algebra, physics


def _pull(repo: str, **params: str) -> str:
    return "/hub/user-redirect/git-pull?" + urlencode({"repo": repo, **params})


async def _follow_site(c: httpx.AsyncClient, link: str) -> str:
    """The site path's redirect (no sign-in there), checked to stay under the prefix."""
    first = await c.get(link)
    assert first.status_code == 302, first.text
    location = first.headers["location"]
    assert location.startswith(PREFIX + "legacy/"), location
    return location


async def _land(c: httpx.AsyncClient, link: str, headers: dict[str, str] = STUDENT):
    return await c.get(await _follow_site(c, link), headers=headers)


async def test_an_nbgitpuller_link_lands_on_the_stable_link_of_its_notebook(site) -> None:  # noqa: ANN001
    app, algebra, _ = site
    async with client(app) as c:
        # as nbgitpuller's link generator writes it (JupyterLab, a space in the name)
        for repo in (str(algebra), f"file://{algebra}.git", f"{algebra}/"):
            link = _pull(repo, urlpath="lab/tree/Algebra/week 1/intro.ipynb", branch="main")
            got = await _land(c, link)
            assert got.status_code == 302, got.text
            assert got.headers["location"] == f"{PREFIX}open/algebra/week%201/intro.ipynb"
        # subPath/app links, a Jupytext notebook, the classic notebook's page
        old = _pull(str(algebra), subPath="week1/exercise.py", app="lab")
        assert (await _land(c, old)).headers[
            "location"
        ] == f"{PREFIX}open/algebra/week1/exercise.py"
        classic = _pull(str(algebra), urlpath="tree/Algebra/week1/exercise.py")
        assert (await _land(c, classic)).headers["location"].endswith("/week1/exercise.py")
        # a folder, the whole repository, or a non-notebook file: the course's page
        for params in ({"urlpath": "lab/tree/Algebra/week1"}, {}, {"urlpath": "rstudio/"}):
            got = await _land(c, _pull(str(algebra), **params))
            assert got.headers["location"] == f"{PREFIX}course/algebra", params


async def test_the_query_reaches_the_signed_in_page_unchanged(site) -> None:  # noqa: ANN001
    app, algebra, _ = site
    link = _pull(str(algebra), urlpath="lab/tree/Algebra/week 1/intro.ipynb", branch="main")
    async with client(app) as c:
        location = await _follow_site(c, link)
        assert parse_qsl(urlsplit(location).query) == parse_qsl(urlsplit(link).query)
        # not signed in: the page starts the sign-in, the link is where it comes back
        anonymous = await c.get(location, headers={"Sec-Fetch-Mode": "navigate"})
        assert anonymous.status_code == 302
        assert "oauth" in anonymous.headers["location"].lower()


async def test_the_student_in_an_nbhosting_url_is_ignored(site) -> None:  # noqa: ANN001
    app, _, _ = site
    async with client(app) as c:
        for path in (
            "/notebookLazyCopy/algebra/week1/exercise/someone-else",
            "/ipythonExercice/algebra/week1/exercise.py/someone-else/",
        ):
            location = await _follow_site(c, path)
            assert "someone-else" not in location
            got = await c.get(location, headers=STUDENT)
            assert got.headers["location"] == f"{PREFIX}open/algebra/week1/exercise.py"
        # nbhosting's reset button (forcecopy): the course's page that confirms a reset
        reset = await _land(c, "/notebookLazyCopy/algebra/week1/exercise/sam?forcecopy=true")
        assert reset.headers["location"] == f"{PREFIX}course/algebra/reset/week1/exercise.py"
        folder = await _land(c, "/notebookLazyCopy/algebra/week1/x")
        assert folder.headers["location"] == f"{PREFIX}course/algebra"


async def test_unknown_repositories_and_other_peoples_courses_get_the_same_clear_page(site) -> None:  # noqa: ANN001
    app, algebra, physics = site
    async with client(app) as c:
        theirs = await _land(c, _pull(str(physics), urlpath="lab/tree/physics/intro.ipynb"))
        nowhere = await _land(c, _pull("/srv/none/physics", urlpath="lab/tree/physics/intro.ipynb"))
        for got in (theirs, nowhere):
            assert got.status_code == 404
            assert "None of your courses uses the repository" in got.text
            assert "ask them to enrol you" in got.text
        assert theirs.text.replace(str(physics), "R") == nowhere.text.replace(
            "/srv/none/physics", "R"
        )
        # site admins act as instructors of every course
        admin = await _land(
            c, _pull(str(physics), urlpath="lab/tree/physics/intro.ipynb"), bearer("tok-admin")
        )
        assert admin.headers["location"] == f"{PREFIX}open/physics/intro.ipynb"
        # nbhosting: the course's own "not yours" page, the same for a course that exists
        their_course = await _land(c, "/notebookLazyCopy/physics/intro/sam")
        no_course = await _land(c, "/notebookLazyCopy/nosuch/intro/sam")
        bad_name = await _land(c, "/notebookLazyCopy/Not%20A%20Course!/intro/sam")
        for got in (their_course, no_course, bad_name):
            assert got.status_code == 404
            assert "that you are enrolled in" in got.text
        # a notebook that is gone: the course's page is named
        gone = await _land(c, _pull(str(algebra), urlpath="lab/tree/Algebra/gone.ipynb"))
        assert gone.status_code == 404
        text = html.unescape(gone.text)
        assert "has no notebook 'gone.ipynb'" in text and f"{PREFIX}course/algebra" in text


@pytest.mark.parametrize(
    "urlpath",
    [
        "//evil.example/lab/tree/x.ipynb",
        "https://evil.example/",
        "javascript:alert(document.cookie)",
        "/\\evil.example/",
        "lab/tree/Algebra/../../../etc/passwd",
        "lab/tree/Algebra/..%2F..%2F..%2Fetc%2Fpasswd",
        "lab/tree/Algebra/%2E%2E/%2E%2E/etc/passwd",
        "lab/tree/Algebra/week1/escape.ipynb",  # a symlink out of the checkout
        "lab/tree/Algebra/.git/config",
    ],
)
async def test_hostile_urlpaths_are_refused_and_never_redirect_away(site, urlpath: str) -> None:  # noqa: ANN001
    app, algebra, _ = site
    async with client(app) as c:
        got = await _land(c, _pull(str(algebra), urlpath=urlpath))
        assert got.status_code in (400, 404), (urlpath, got.status_code, got.headers)
        assert "location" not in got.headers
        assert "root:" not in got.text
        text = html.unescape(got.text)
        assert re.search(r"not a path on this site|not valid|has no notebook", text), text


async def test_hostile_nbhosting_paths_are_refused(site) -> None:  # noqa: ANN001
    app, _, _ = site
    async with client(app) as c:
        for path in (
            "/notebookLazyCopy/algebra/..%2F..%2Fetc%2Fpasswd/sam",
            "/notebookLazyCopy/algebra/week1/escape/sam",
            "/notebookLazyCopy/algebra/sam",
        ):
            first = await c.get(path)
            if first.status_code == 302:
                assert first.headers["location"].startswith(PREFIX + "legacy/nbhosting/algebra/")
                first = await c.get(first.headers["location"], headers=STUDENT)
            assert first.status_code in (400, 404), (path, first.status_code)
            assert "location" not in first.headers, path


async def test_interact_links_of_old_nbgitpuller_become_git_pull_links(site) -> None:  # noqa: ANN001
    app, _, _ = site
    async with client(app) as c:
        location = await _follow_site(c, "/hub/user-redirect/interact?account=uni&repo=alg&path=w1")
        query = dict(parse_qsl(urlsplit(location).query))
        assert query == {
            "repo": "https://github.com/uni/alg",
            "branch": "gh-pages",
            "subPath": "w1",
        }


async def test_on_docker_the_link_asks_the_students_server_with_its_own_token_only(
    site,  # noqa: ANN001
) -> None:
    """Docker is not available here: the hub API and the student's server are an
    httpx.MockTransport, to see exactly what the service sends where. The real server
    extension answers in tests/integration/courses/test_student_files_server.py."""
    _, algebra, _ = site
    root = algebra.parent
    app = service_on(sqlite_url(root, "c.sqlite"), root / "data", COURSEHUB_SPAWN_BACKEND="docker")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/hub/api/users/sam":
            return httpx.Response(200, json={"servers": {"algebra": {"ready": True}}})
        if path == "/hub/api/users/sam/tokens":
            return httpx.Response(201, json={"token": "sams-single-server-token"})
        if path == "/user/sam/algebra/coursehub/workspace/copy":
            return httpx.Response(200, json={"sha256": "ab" * 32})
        return httpx.Response(404)

    context = context_of(app)
    context.__dict__["hub_api"] = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with client(app) as c:
        link = _pull(str(algebra), urlpath="lab/tree/Algebra/week 1/intro.ipynb")
        stable = await _land(c, link)
        opened = await c.get(stable.headers["location"], headers=STUDENT)
    assert opened.status_code == 302, opened.text
    assert opened.headers["location"].endswith("/user/sam/algebra/lab/tree/week%201/intro.ipynb")
    to_server = [r for r in seen if r.url.path.startswith("/user/")]
    assert [r.url.path for r in to_server] == ["/user/sam/algebra/coursehub/workspace/copy"]
    assert to_server[0].headers["authorization"] == "token sams-single-server-token"
    assert json.loads(to_server[0].content)["source"] == "week 1/intro.ipynb"
    issued = next(r for r in seen if r.url.path.endswith("/tokens"))
    assert json.loads(issued.content)["scopes"] == ["access:servers!server=sam/algebra"]
    # the service's own hub token went to the hub only
    service_token = context.settings.api_token
    assert all(service_token not in r.headers.get("authorization", "") for r in to_server)
