"""Stable notebook links: /services/coursehub/open/<course>/<path to notebook>.

Opening a link signs the student in (through the hub), starts their server for
the course (the hub's own spawn page shows the progress), copies the notebook
from the course checkout into their workspace the first time (never over their
own version), adds the course's read-only mappings beside it, and lands in
JupyterLab on that notebook.

Access is checked before anything about the course is looked at: someone outside the
course gets the same 404 for an existing course, a missing one, and any notebook path
(course_access.require_role), so links cannot be used to probe what exists.

A browser not signed in to these pages is sent straight to the hub, which opens the
link itself without the service's own sign-in (hub/course_links.py) and sends back
here, marked `from=hub`, whatever it leaves to the service.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from coursehub.config.layout import DataLayout
from coursehub.core.errors import CoursehubError
from coursehub.core.link_routes import FROM_HUB, hub_link, hub_opens
from coursehub.core.subdomains import server_url
from coursehub.courses.notebook_links import course_notebook, notebook_mappings
from coursehub.courses.paths import PathRejected
from coursehub.courses.servers import CourseAccessError, resolve_course_server
from coursehub.courses.workspace import WorkspaceError
from coursehub.service import metrics
from coursehub.service.auth import cookie_auth_allowed, identify, page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import not_yours, require_role
from coursehub.service.errors import error_response
from coursehub.service.identity import HubUser
from coursehub.service.routes.courses.kernel_notice import kernel_notice

log = logging.getLogger("coursehub.service")
router = APIRouter()


async def server_ready(request: Request, username: str, server: str) -> bool:
    settings = context_of(request.app).settings
    response = await context_of(request.app).hub_api.get(
        f"{settings.api_url}/users/{quote(username)}",
        headers={"Authorization": f"token {settings.api_token}"},
    )
    if response.status_code != 200:
        return False
    model = (response.json().get("servers") or {}).get(server) or {}
    return bool(model.get("ready"))


@router.get("/open/{course}/{path:path}", include_in_schema=False)
async def open_notebook(request: Request, course: str, path: str) -> Response:
    settings = context_of(request.app).settings
    if (
        hub_opens(settings.spawn_backend)
        and cookie_auth_allowed(request)
        and request.query_params.get(FROM_HUB[0]) != FROM_HUB[1]
        and await identify(request) is None
    ):
        # not signed in here: the hub opens the link without this service's sign-in
        query = request.url.query
        return RedirectResponse(hub_link(settings.base_url, course, path, query), 302)
    user = await page_user(request)
    return await _open(request, course, path, user)


async def _open(request: Request, course: str, path: str, user: HubUser) -> Response:
    settings = context_of(request.app).settings
    layout = DataLayout(Path(settings.data_dir))
    store = context_of(request.app).courses
    # Access first: only members learn what the course holds.
    await asyncio.to_thread(require_role, store, user, course)
    repo = layout.course_repo(course)
    if not repo.is_dir():
        raise not_yours(course)
    try:
        source = course_notebook(repo, path)
    except PathRejected as exc:
        return error_response(request, 400, f"This notebook link is not valid: {exc.reason}.")
    if source is None:
        return error_response(request, 404, f"The course {course!r} has no notebook {path!r}.")

    try:
        # Access first: nobody is sent to start a server they may not have.
        await asyncio.to_thread(
            resolve_course_server, store, layout, user.name, user.role, course, Path("/")
        )
    except CourseAccessError as exc:
        return error_response(request, 403, f"You cannot open this notebook: {exc}.")
    # Before a server starts: a notebook none of the course's kernels can run says so.
    if (notice := await kernel_notice(request, layout, course, source, path)) is not None:
        return notice

    ready = await server_ready(request, user.name, course)
    if metrics.enabled(request.app):
        seen = context_of(request.app).metrics
        (seen.ready_seen if ready else seen.start_seen)(user.name, course)
    if not ready:
        # The hub starts the server with its progress page, then sends the browser
        # back to this same link.
        # (with the query: "open it anyway" from the kernel notice holds after the start)
        back = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        spawn = f"{settings.hub_prefix}spawn/{quote(user.name)}/{quote(course)}?next={back}"
        return RedirectResponse(spawn, status_code=302)

    try:
        mappings = await asyncio.to_thread(notebook_mappings, course, repo, path)
        files = context_of(request.app).student_files
        copied = await files.copy_notebook(user.name, course, path, path, mappings)
        progress = context_of(request.app).progress
        await asyncio.to_thread(progress.record_open, course, user.name, path, copied)
    except (WorkspaceError, CoursehubError) as exc:
        log.warning("opening %s/%s for %s failed: %s", course, path, user.name, exc)
        return error_response(request, 500, str(exc))
    log.info("%s opened %s/%s (%s)", user.name, course, path, "copied" if copied else "kept")
    server = server_url(settings.base_url, settings.subdomain_host, user.name, course)
    lab = f"{server}lab/tree/{quote(path)}"
    return RedirectResponse(lab, status_code=302)
