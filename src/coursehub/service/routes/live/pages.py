"""The live class view: per course and per notebook, every student's latest state,
pushed to the instructor's browser as server-sent events.

- `/course/<c>/live`: the course's notebooks with how many students started, are
  stuck on an error, or finished each one;
- `/course/<c>/live/nb/<path>`: one card per student with the tail of their copy,
  updated live, with filters;
- `/course/<c>/live/view/<user>/<path>`: one student's copy in full, rendered by
  nbconvert into a sandboxed frame (student HTML and script never run on our origin);
- `POST /course/<c>/live/help/<user>/<path>`: with per-user subdomains
  (site.user_subdomains), share that student's course server with the caller
  (JupyterHub sharing: `access:servers` for that one server) and go there, on the
  student's own origin. Without them the student's JupyterLab would run on the hub's
  origin with the helper's cookies (their extensions, config and trusted outputs are
  theirs), so help is the read-only view above and nothing is shared.

Only the course's instructors and TAs (and site admins) get any of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from html import escape
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from coursehub.core.subdomains import server_url
from coursehub.courses.content import CourseContent
from coursehub.courses.servers import workspace_for
from coursehub.courses.shares import SNAPSHOT_CSP, ShareError, notebook_html
from coursehub.courses.workspace import WorkspaceError, read_notebook
from coursehub.events.live import STATUSES, LiveState
from coursehub.service.auth import header_token, identify, page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import (
    STAFF_ROLES,
    course_for,
    require_role,
    student_of,
)
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.routes.courses.links import server_ready
from coursehub.service.script_tickets import allowed, script_ticket, ticket_user
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()

KEEPALIVE_SECONDS = 15.0
# The full view is framed by our own page only; nothing in it may run or navigate.
VIEW_CSP = SNAPSHOT_CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


def stream_ticket(request: Request, course: str) -> str:
    """What our dashboard page hands its script for the event stream: an HMAC of the
    visitor's signed token cookie (HttpOnly, so other scripts on this origin cannot
    compute it) and the course."""
    return script_ticket(request, "live", course)


async def _stream_user(request: Request, course: str) -> HubUser:
    """The caller of the event stream: a header token (API clients), or the cookie
    together with the ticket our page gave its script (EventSource cannot send headers)."""
    if header_token(request) is not None:
        return allowed(request, await identify(request))
    expired = "This live view has expired. Reload the page."
    return await ticket_user(request, stream_ticket(request, course), expired)


def _students(request: Request, course: str) -> list[str]:
    return sorted(
        m.username for m in context_of(request.app).courses.members(course) if m.role == "student"
    )


def _notebook_of(content: CourseContent, path: str) -> str:
    if path not in content.notebooks:
        raise ApiError(404, f"{path!r} is not a notebook of this course.")
    return path


async def _staff_course(request: Request, user: HubUser, course: str) -> CourseContent:
    content, _role = await asyncio.to_thread(course_for, request, user, course, STAFF_ROLES)
    return content


def opens_live_lab(request: Request) -> bool:
    """Whether Help may open a student's live JupyterLab: only on their own origin."""
    return bool(context_of(request.app).settings.subdomain_host)


def _live_url(request: Request, course: str) -> str:
    return f"{context_of(request.app).settings.service_prefix}course/{quote(course)}/live"


@router.get("/course/{course}/live", response_class=HTMLResponse, include_in_schema=False)
async def live_course(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content = await _staff_course(request, user, course)

    def gather() -> tuple[list[str], dict[str, dict[str, int]]]:
        students = _students(request, course)
        enrolled = set(students)
        counts = {nb: dict.fromkeys(STATUSES, 0) for nb in content.notebooks}
        for state in context_of(request.app).live.course(course):
            if state.username in enrolled and state.path in counts:
                counts[state.path][state.status] += 1
        for c in counts.values():
            c["not_started"] = len(students) - sum(v for k, v in c.items() if k != "not_started")
        return students, counts

    students, counts = await asyncio.to_thread(gather)
    return render(
        request,
        "live/course.html",
        user=user,
        course=content,
        students=students,
        counts=counts,
        live_url=_live_url(request, course),
        staff_url=_live_url(request, course).removesuffix("/live") + "/staff",
        quote=quote,
    )


@router.get(
    "/course/{course}/live/nb/{path:path}", response_class=HTMLResponse, include_in_schema=False
)
async def live_notebook(
    request: Request, course: str, path: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content = await _staff_course(request, user, course)
    _notebook_of(content, path)
    live = _live_url(request, course)
    return render(
        request,
        "live/notebook.html",
        user=user,
        course=content,
        path=path,
        live_url=live,
        stream_url=f"{live}/stream?path={quote(path)}&ticket={stream_ticket(request, course)}",
        view_base=f"{live}/view/",
        help_base=f"{live}/help/",
        live_help=opens_live_lab(request),
        statuses=STATUSES,
    )


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@router.get("/course/{course}/live/stream", include_in_schema=False)
async def live_stream(request: Request, course: str, path: str | None = None) -> Response:
    """Server-sent events: first `snapshot` (the roster and every known state), then one
    `update` per change; `reload` when this client fell too far behind."""
    user = await _stream_user(request, course)
    store = context_of(request.app).courses
    await asyncio.to_thread(require_role, store, user, course, STAFF_ROLES)
    # Subscribe before reading the snapshot so no update falls between the two.
    broker = context_of(request.app).broker
    sub = broker.subscribe(course, path or None)

    def snapshot() -> dict[str, Any]:
        live = context_of(request.app).live
        states: list[LiveState] = live.notebook(course, path) if path else live.course(course)
        return {
            "course": course,
            "path": path,
            "students": _students(request, course),
            "states": [s.as_json() for s in states],
        }

    try:
        first = await asyncio.to_thread(snapshot)
    except BaseException:
        broker.unsubscribe(sub)
        raise

    async def events() -> AsyncIterator[bytes]:
        try:
            yield _sse("snapshot", first)
            while True:
                try:
                    update = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                yield _sse("update", update)
                if sub.lagged and sub.queue.empty():
                    yield _sse("reload", {"reason": "too many updates to keep up"})
                    return
        finally:
            broker.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _student_notebook(
    request: Request, user: HubUser, course: str, username: str, path: str
) -> CourseContent:
    """The course, once the caller is its staff, `path` one of its notebooks and
    `username` one of its students (404 otherwise)."""
    content = await _staff_course(request, user, course)
    _notebook_of(content, path)
    if username not in await asyncio.to_thread(_students, request, course):
        raise ApiError(404, f"{username!r} is not a student of this course.")
    return content


@router.get("/course/{course}/live/view/{username}/{path:path}", include_in_schema=False)
async def live_view(
    request: Request,
    course: str,
    username: str,
    path: str,
    user: Annotated[HubUser, Depends(page_user)],
) -> HTMLResponse:
    content = await _student_notebook(request, user, course, username, path)
    state = await asyncio.to_thread(context_of(request.app).live.one, course, path, username)
    live = _live_url(request, course)
    return render(
        request,
        "live/view.html",
        user=user,
        course=content,
        path=path,
        student=username,
        state=state,
        back_url=f"{live}/nb/{quote(path)}",
        render_url=f"{live}/render/{quote(username)}/{quote(path)}",
        help_url=f"{live}/help/{quote(username)}/{quote(path)}",
        live_help=opens_live_lab(request),
    )


@router.get("/course/{course}/live/render/{username}/{path:path}", include_in_schema=False)
async def live_render(
    request: Request,
    course: str,
    username: str,
    path: str,
    user: Annotated[HubUser, Depends(page_user)],
) -> Response:
    """The student's copy rendered by nbconvert, for the sandboxed frame of the view."""
    await _student_notebook(request, user, course, username, path)

    def build() -> str:
        student = student_of(request, username)
        data = read_notebook(student, workspace_for(student.home, course), path)
        return notebook_html(data, path)

    try:
        html = await asyncio.to_thread(build)
    except (WorkspaceError, ShareError) as exc:
        message = str(exc).replace("your notebook", "the student's notebook")
        message = message.replace("your workspace", "the student's workspace")
        html = f"<p>Cannot show this notebook: {escape(message)}.</p>"
    return HTMLResponse(
        html, headers={"Content-Security-Policy": VIEW_CSP, "Cache-Control": "no-store"}
    )


@router.post("/course/{course}/live/help/{username}/{path:path}", include_in_schema=False)
async def live_help(
    request: Request,
    course: str,
    username: str,
    path: str,
    user: Annotated[HubUser, Depends(form_user)],
) -> Response:
    """Share the student's course server with the caller, then open the notebook there
    (per-user subdomains); without subdomains, the read-only view."""
    await _student_notebook(request, user, course, username, path)
    if not opens_live_lab(request):
        log.info(
            "%s asked to help %s in %s: read-only (no subdomains)", user.name, username, course
        )
        view = f"{_live_url(request, course)}/view/{quote(username)}/{quote(path)}"
        return RedirectResponse(view, status_code=303)
    if not await server_ready(request, username, course):
        raise ApiError(
            409,
            f"{username}'s server for this course is not running; "
            "they need to open a notebook first.",
        )
    settings = context_of(request.app).settings
    client = context_of(request.app).hub_api
    auth = {"Authorization": f"token {settings.api_token}"}
    if user.name != username:
        granted = await client.post(
            f"{settings.api_url}/shares/{quote(username)}/{quote(course)}",
            headers=auth,
            json={"user": user.name},
        )
        if granted.status_code != 200:
            log.warning(
                "sharing %s/%s with %s failed: %s %s",
                username,
                course,
                user.name,
                granted.status_code,
                granted.text[:200],
            )
            raise ApiError(502, "The hub refused to open this server for you; see the service log.")
        log.info("shared %s/%s with %s (help)", username, course, user.name)
    server = server_url(settings.base_url, settings.subdomain_host, username, course)
    target = f"{server}lab/tree/{quote(path)}"
    return RedirectResponse(target, status_code=303)
