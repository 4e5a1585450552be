"""Links teachers published for nbgitpuller and nbhosting, answered with the stable link.

Two steps, because sign-in cookies belong to the service's own prefix:

1. `SITE` routes, at the site paths the proxy sends here (core/legacy_paths.py), read
   nothing about the caller: they only move the link's meaning under the service's
   prefix (`/services/coursehub/legacy/...`).
2. The `router` pages there sign the caller in, find the course among the caller's
   own courses, and redirect to the stable link `open/<course>/<notebook>` (which
   starts the server, copies the notebook as the student and opens JupyterLab) or to
   the course's page when the link names a folder or no file.

Every redirect is built from the course's name and a path checked inside its checkout,
never from the link's text. A repository the caller has no course for gets the same
page whether another course uses it or not.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from coursehub.config.layout import DataLayout
from coursehub.core.legacy_paths import GIT_PULL_PATHS, NBHOSTING_PATHS
from coursehub.core.names import COURSE_NAME_RE
from coursehub.courses.git import redact
from coursehub.courses.legacy_links import (
    LegacyLinkError,
    courses_for_repo,
    nbhosting_candidates,
    nbhosting_notebook,
    read_git_pull,
)
from coursehub.courses.paths import PathRejected, safe_relative_path
from coursehub.courses.tracks import is_notebook
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import not_yours, require_role
from coursehub.service.errors import error_response
from coursehub.service.identity import HubUser

SITE = APIRouter()
router = APIRouter()

GIT_PULL_PAGE = "legacy/git-pull"
NBHOSTING_PAGE = "legacy/nbhosting"


def _prefix(request: Request) -> str:
    return context_of(request.app).settings.service_prefix


# -- step 1: at the site's paths, nothing about the caller ----------------------------


async def _to_git_pull_page(request: Request) -> Response:
    query = request.url.query
    return RedirectResponse(f"{_prefix(request)}{GIT_PULL_PAGE}?{query}", status_code=302)


async def _interact(request: Request) -> Response:
    """nbgitpuller's oldest links: /interact?account=…&repo=…&path=… on GitHub."""
    params = request.query_params
    account, repo = params.get("account", "data-8"), params.get("repo", "")
    query = urlencode(
        {
            "repo": f"https://github.com/{account}/{repo}",
            "branch": params.get("branch", "gh-pages"),
            "subPath": params.get("path", "."),
        }
    )
    return RedirectResponse(f"{_prefix(request)}{GIT_PULL_PAGE}?{query}", status_code=302)


for _path in GIT_PULL_PATHS:
    _answer = _interact if _path.endswith("/interact") else _to_git_pull_page
    SITE.add_api_route(_path, _answer, methods=["GET"], include_in_schema=False)


async def _to_nbhosting_page(request: Request, course: str, rest: str) -> Response:
    """`<notebook>/<student>`: the student part is dropped here; sign-in decides."""
    try:
        notebook = nbhosting_notebook(rest)
    except LegacyLinkError as exc:
        return error_response(request, 400, f"This link cannot be opened: {exc}.")
    target = f"{_prefix(request)}{NBHOSTING_PAGE}/{quote(course, safe='')}/{quote(notebook)}"
    if request.query_params.get("forcecopy"):
        target += "?forcecopy=true"  # nbhosting's reset button; nothing else carried
    return RedirectResponse(target, status_code=302)


for _path in NBHOSTING_PATHS:
    SITE.add_api_route(
        _path + "/{course}/{rest:path}",
        _to_nbhosting_page,
        methods=["GET"],
        include_in_schema=False,
    )


# -- step 2: under the service's prefix, signed in --------------------------------------


def _my_courses(request: Request, user: HubUser) -> list[tuple[str, str, str]]:
    """(name, repository URL, branch) of each course `user` may open (admins: all)."""
    store = context_of(request.app).courses
    courses = store.list()
    if user.role != "admin":  # course_access.course_role's rule, in one query
        mine = {e.course for e in store.courses_of(user.name)}
        courses = [c for c in courses if c.name in mine]
    return [(c.name, c.repo_url, c.branch) for c in courses]


@dataclass(frozen=True)
class Landing:
    """Where a link lands in a course: a notebook, the course's page, or nowhere."""

    notebook: str | None = None
    course_page: bool = False
    rejected: str | None = None  # why a path of the link was refused


def _landing(layout: DataLayout, course: str, candidates: tuple[str, ...]) -> Landing:
    """The first candidate that is a notebook of the course's checkout; else its page
    when the link names a folder or no file. A path that tries to leave the checkout
    is refused, unless another candidate is a notebook."""
    repo = layout.course_repo(course)
    rejected: str | None = None
    folder = not candidates
    for candidate in candidates:
        try:
            source = safe_relative_path(repo, candidate)
        except PathRejected as exc:
            rejected = rejected or exc.reason
            continue
        if source.is_file() and is_notebook(source):
            return Landing(notebook=candidate)
        folder = folder or source.is_dir()
    if rejected is not None:
        return Landing(rejected=rejected)
    return Landing(course_page=folder)


async def _land(
    request: Request, course: str, candidates: tuple[str, ...], shown: str, reset: bool = False
) -> Response:
    """Redirect to the stable link of the notebook the link means, or explain. `reset`:
    to the page that confirms a reset of it instead (a GET changes nothing)."""
    prefix = _prefix(request)
    layout = DataLayout(Path(context_of(request.app).settings.data_dir))
    landing = await asyncio.to_thread(_landing, layout, course, candidates)
    course_page = f"{prefix}course/{quote(course, safe='')}"
    if landing.notebook is not None:
        target = f"{prefix}open/{quote(course, safe='')}/{quote(landing.notebook)}"
        if reset:
            target = f"{course_page}/reset/{quote(landing.notebook)}"
        return RedirectResponse(target, status_code=302)
    if landing.rejected is not None:
        return error_response(
            request,
            400,
            f"This link is not valid: its path is refused ({landing.rejected}); a link "
            f"opens a file inside the course {course!r}.",
        )
    if landing.course_page:
        return RedirectResponse(course_page, status_code=302)
    return error_response(
        request,
        404,
        f"The course {course!r} has no notebook {shown[:200]!r} any more; its notebooks "
        f"are listed on the course's page, {course_page}",
    )


@router.get(f"/{GIT_PULL_PAGE}", include_in_schema=False)
async def git_pull_link(request: Request, user: Annotated[HubUser, Depends(page_user)]) -> Response:
    try:
        link = read_git_pull(dict(request.query_params))
    except LegacyLinkError as exc:
        return error_response(request, 400, f"This link cannot be opened: {exc}.")
    mine = await asyncio.to_thread(_my_courses, request, user)
    found = courses_for_repo(link.repo, link.branch, mine)
    if not found:
        return error_response(
            request,
            404,
            f"None of your courses uses the repository {redact(link.repo)[:200]!r}. If a "
            "teacher gave you this link, ask them to enrol you in the course; your courses "
            f"are listed at {_prefix(request)}",
        )
    shown = link.candidates[0] if link.candidates else ""
    return await _land(request, found[0], link.candidates, shown)


@router.get(f"/{NBHOSTING_PAGE}/{{course}}/{{notebook:path}}", include_in_schema=False)
async def nbhosting_link(
    request: Request, course: str, notebook: str, user: Annotated[HubUser, Depends(page_user)]
) -> Response:
    name = course.lower()
    store = context_of(request.app).courses
    if not COURSE_NAME_RE.match(name):
        raise not_yours(course)
    await asyncio.to_thread(require_role, store, user, name)
    # the notebook's name itself last: a folder lands on the course's page
    candidates = (*nbhosting_candidates(notebook), notebook)
    reset = bool(request.query_params.get("forcecopy"))
    return await _land(request, name, candidates, notebook, reset=reset)
