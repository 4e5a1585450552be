"""Links published for the systems coursehub replaces, read as coursehub links.

Teachers have links in slides, LMS pages and MOOCs that they cannot all rewrite:

- nbgitpuller: ``/hub/user-redirect/git-pull?repo=…&branch=…&urlpath=…`` (or, without
  ``urlpath``, ``subPath``/``targetPath``/``app``), which clones ``repo`` into the
  student's server and opens ``urlpath`` there;
- nbhosting: ``/notebookLazyCopy/<course>/<notebook>/<student>`` (and its older name
  ``/ipythonExercice/…``), which copies the notebook into the student's space.

Here these are only *read*: which repository (or course) and which file they mean.
Nothing is decided about the caller, and nothing here builds a URL: the service
redirects to its own stable link, built from the course name and a checked path, so a
link's text can never choose where a browser is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from coursehub.core.errors import CoursehubError

MAX_PARAM = 2048  # longer repository URLs or paths are not links anyone published

# The pages of a Jupyter server that open a file: what nbgitpuller's link generator
# writes (lab/tree, tree, notebooks, retro/tree) and what teachers type by hand.
_FILE_PAGE = re.compile(
    r"^(?:"
    r"(?:lab|doc)(?:/workspaces/[^/]+)?/tree"
    r"|(?:retro|nbclassic|notebooks?)/(?:tree|notebooks|edit)"
    r"|tree|notebooks|edit|view|voila/render|voila/tree|apps"
    r")(?:/(?P<path>.*))?$"
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^/:]+):(?P<path>.*)$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ssh": 22, "git": 9418}
_NBHOSTING_SUFFIXES = (".ipynb", ".py", ".md")


class LegacyLinkError(CoursehubError):
    """A published link cannot be read; the message says what is wrong with it."""


@dataclass(frozen=True)
class GitPullLink:
    """What an nbgitpuller link asks for.

    `candidates`: paths inside the repository the link may mean, best first (the link
    names a path in the student's server, where the clone sits in a folder of its
    own); empty when the link names no file (the course's page is the answer).
    """

    repo: str
    branch: str | None
    candidates: tuple[str, ...]


def repo_key(url: str) -> str:
    """One spelling of a repository location, for comparing two of them.

    `https://GitHub.com/org/Course.git/`, `http://github.com/org/Course`,
    `git@github.com:org/Course.git` and `ssh://git@github.com/org/Course` are one
    repository: scheme, user, default port, `.git` and trailing slashes do not count,
    and host names are not case-sensitive. Local paths and `file://` URLs compare by
    their path. The path keeps its case (`repo_key_folded` is the looser form).
    """
    text = url.strip()
    if not text or len(text) > MAX_PARAM:
        return ""
    host, path = "", text
    if _SCHEME.match(text) and "://" in text:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme != "file":
            host = (parts.hostname or "").lower()
            try:
                port = parts.port
            except ValueError:
                port = None
            if port is not None and port != _DEFAULT_PORTS.get(scheme):
                host = f"{host}:{port}"
        path = unquote(parts.path)
    elif not text.startswith("/"):
        scp = _SCP_LIKE.match(text)
        if scp:
            host, path = scp.group("host").lower(), "/" + scp.group("path")
    segments = [s for s in path.split("/") if s not in ("", ".")]
    if segments and segments[-1].lower().endswith(".git"):
        segments[-1] = segments[-1][:-4]
    return host + "/" + "/".join(s for s in segments if s)


def repo_key_folded(url: str) -> str:
    """`repo_key` without case in the path: GitHub and GitLab do not tell `Org/Course`
    from `org/course`, so a link typed either way still finds its course."""
    return repo_key(url).lower()


def courses_for_repo(
    repo: str, branch: str | None, courses: Iterable[tuple[str, str, str]]
) -> list[str]:
    """The names of `courses` ((name, repository URL, branch) each) that `repo` means.

    An exact match (`repo_key`) beats one that differs only in the path's case; among
    several courses of one repository (two terms, two branches), those on the link's
    `branch` come first.
    """
    wanted = repo_key(repo)
    if not wanted or wanted == "/":
        return []
    rows = list(courses)
    found = [(name, b) for name, url, b in rows if repo_key(url) == wanted]
    if not found:
        folded = wanted.lower()
        found = [(name, b) for name, url, b in rows if repo_key_folded(url) == folded]
    if branch:
        on_branch = [name for name, b in found if b == branch]
        if on_branch:
            return on_branch
    return [name for name, _ in found]


def _param(params: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = params.get(name)
        if value:
            if len(value) > MAX_PARAM:
                raise LegacyLinkError(f"the link's {name} is longer than {MAX_PARAM} characters")
            return value
    return None


def _clone_folders(repo: str, target: str | None) -> list[list[str]]:
    """The folder(s) nbgitpuller clones `repo` into, as path components."""
    if target:
        parts = [p for p in target.split("/") if p not in ("", ".")]
        return [parts] if parts else []
    # nbgitpuller: the last part of the URL; its link generator drops `.git`.
    last = repo.rstrip("/").split("/")[-1].split(":")[-1]
    names = [last]
    if last.lower().endswith(".git"):
        names.insert(0, last[:-4])
    return [[n] for n in names if n]


def _after_clone_folder(parts: list[str], folders: list[list[str]]) -> list[str]:
    """`parts` (a path in the student's server) as paths inside the repository: what
    follows the clone folder, wherever it sits (NBGITPULLER_PARENTPATH may add some)."""
    found: list[str] = []
    for folder in folders:
        n = len(folder)
        for i in range(len(parts) - n + 1):
            if parts[i : i + n] == folder:
                found.append("/".join(parts[i + n :]))
                break
    return found


def _server_path(urlpath: str) -> list[str] | None:
    """The file a server-relative `urlpath` opens, as path components; None when it
    opens no file (RStudio, Shiny, a bare `lab`). LegacyLinkError when it is not a path
    on the server at all (another site, a scheme)."""
    text = urlpath.strip()
    if "\\" in text or text.startswith("//") or _SCHEME.match(text):
        raise LegacyLinkError(
            f"the link's urlpath {urlpath[:100]!r} is not a path on this site; nbgitpuller "
            "links open a file of the course, such as lab/tree/<folder>/<notebook>.ipynb"
        )
    text = text.lstrip("/")
    # `%3Fautodecode` arrives as `?autodecode`: a query of the page, not of the file.
    text = re.split(r"[?#]", text, maxsplit=1)[0]
    page = _FILE_PAGE.match(text)
    if page is None:
        return None
    # The urlpath is a URL: its path is percent-encoded once (spaces, accents). The
    # docs' `%3Fautodecode`, once decoded, is still a query, not part of the file name.
    path = re.split(r"[?#]", unquote(page.group("path") or ""), maxsplit=1)[0]
    return [p for p in path.split("/") if p not in ("", ".")]


def _unescaped(params: Mapping[str, str]) -> Mapping[str, str]:
    """Links pasted through HTML keep `&amp;` between their parts, so that everything
    after `repo=` arrives as the repository; such links are published, read them."""
    repo = params.get("repo") or ""
    if "&amp;" not in repo:
        return params
    first, *rest = repo.split("&amp;")
    more = dict(part.partition("=")[::2] for part in rest if "=" in part)
    return {**more, **{k: v for k, v in params.items() if k != "repo"}, "repo": first}


def read_git_pull(params: Mapping[str, str]) -> GitPullLink:
    """What an nbgitpuller link's query (`params`, decoded once) asks for."""
    params = _unescaped(params)
    repo = _param(params, "repo")
    if repo is None:
        raise LegacyLinkError(
            "this nbgitpuller link names no repository (its repo= part is missing); "
            "ask your teacher for the course's link"
        )
    branch = _param(params, "branch")
    target = _param(params, "targetpath", "targetPath")
    folders = _clone_folders(repo, target)
    urlpath = _param(params, "urlpath", "urlPath")
    if urlpath is not None:
        parts = _server_path(urlpath)
        if not parts:
            return GitPullLink(repo, branch, ())
        # A hand-written urlpath may leave the clone folder out.
        candidates = _after_clone_folder(parts, folders) or ["/".join(parts)]
        if "" in candidates:  # the clone folder itself: the whole repository
            return GitPullLink(repo, branch, ())
    else:
        # a path in the repository (nbgitpuller joins it to the clone folder as is)
        sub = _param(params, "subpath", "subPath") or ""
        candidates = ["/".join(p for p in sub.split("/") if p not in ("", "."))]
    unique = [c for i, c in enumerate(candidates) if c and c not in candidates[:i]]
    return GitPullLink(repo, branch, tuple(unique))


def nbhosting_notebook(rest: str) -> str:
    """The notebook of an nbhosting URL's `<notebook>/<student>` part.

    The student part is dropped: who the student is comes from sign-in, never from
    the URL (anyone can type another student's name into it).
    """
    parts = [p for p in rest.strip("/").split("/") if p]
    if len(parts) < 2:
        raise LegacyLinkError(
            "this nbhosting link has no notebook in it; it reads "
            "/notebookLazyCopy/<course>/<notebook>/<student>"
        )
    return "/".join(parts[:-1])


def nbhosting_candidates(notebook: str) -> tuple[str, ...]:
    """The files an nbhosting notebook name may be, best first.

    nbhosting's own rule: the notebook may be written without its suffix, or with
    `.ipynb` once or twice; the file is the `.ipynb`, else the Jupytext `.py` or `.md`
    of that name.
    """
    stem = notebook
    while stem.lower().endswith(".ipynb"):
        stem = stem[: -len(".ipynb")]
    if PurePosixPath(stem).suffix.lower() in (".py", ".md"):
        return (stem,)
    return tuple(stem + s for s in _NBHOSTING_SUFFIXES)
