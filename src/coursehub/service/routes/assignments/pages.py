"""Assignment pages: what students and staff do through the assignment API, as pages.

Students, per course: the released assignments with their (possibly extended) due
dates; per assignment: get it into the workspace, submit it (one submission per form
shown, however often the button is pressed), every attempt with its points, comments
and feedback. Staff: create by upload, release, grade again, the gradebook, grading
by hand, extensions and the CSV export. Every action goes through the functions of
grading_api, so the pages and the API follow the same rules; students get 404 on the
staff pages, TAs 403 on what only instructors may do (create, release, extend).

`/assignments` is what JupyterLab's Course menu opens: the course whose server the
student came from, else a choice of their courses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from pathlib import Path, PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coursehub.config.layout import DataLayout
from coursehub.core.subdomains import server_url
from coursehub.courses.servers import CourseAccessError, resolve_course_server
from coursehub.grading import lifecycle
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import STAFF_ROLES
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.routes.assignments import api as grading_api
from coursehub.service.routes.assignments import feedback_page, progress
from coursehub.service.routes.assignments import staff_pages as assignment_staff_pages
from coursehub.service.routes.assignments.api import _assignment
from coursehub.service.routes.assignments.views import (
    ATTEMPT_STATES,
    course_role_of,
    feedback_link,
    late_text,
    notice_for,
    page_url,
    points,
    query_count,
    redirect_back,
    sentence,
    shown_on_form,
    when,
)
from coursehub.service.routes.courses.links import server_ready
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()
router.include_router(assignment_staff_pages.router)
router.include_router(feedback_page.router)
router.include_router(progress.router)


def _lab_url(request: Request, username: str, course: str, row: Any) -> str:
    """JupyterLab on the assignment: its notebook when it has one, else its folder."""
    folder = lifecycle.workspace_folder(row.name)
    notebooks = [f for f in json.loads(row.files) if f.endswith(".ipynb")]
    target = f"{folder}/{notebooks[0]}" if len(notebooks) == 1 else folder
    settings = context_of(request.app).settings
    server = server_url(settings.base_url, settings.subdomain_host, username, course)
    return f"{server}lab/tree/{quote(target)}"


def _summary(request: Request, row: Any, username: str) -> dict[str, Any]:
    """One assignment as a student sees it in the list (runs in a thread)."""
    store = context_of(request.app).grading.store
    attempts = grading_api.submissions_of(request, row, username, False)["attempts"]
    due = store.due_for(row, username)
    return {
        "row": row,
        "due": due,
        "extended": due is not None and due != row.due_at,
        "latest": attempts[-1] if attempts else None,
        "attempts": len(attempts),
    }


@router.get("/assignments", response_class=HTMLResponse, include_in_schema=False)
async def from_lab(request: Request, user: Annotated[HubUser, Depends(page_user)]) -> Response:
    """Where JupyterLab's Course menu points: the assignments of the course whose
    server the student came from, or their courses to choose from."""
    settings = context_of(request.app).settings
    store = context_of(request.app).courses
    courses = [e.course for e in await asyncio.to_thread(store.courses_of, user.name)]
    referer = unquote(urlsplit(request.headers.get("referer", "")).path)
    own = PurePosixPath(f"{settings.base_url}user/{user.name}")
    parts = PurePosixPath(referer).parts
    if len(parts) > len(own.parts) and PurePosixPath(*parts[: len(own.parts)]) == own:
        server = parts[len(own.parts)]
        if server in courses:
            return RedirectResponse(page_url(request, server, "assignments"), status_code=303)
    if len(courses) == 1:
        return RedirectResponse(page_url(request, courses[0], "assignments"), status_code=303)
    return render(
        request,
        "assignments/pick.html",
        user=user,
        courses=sorted(courses),
        url=lambda c: page_url(request, c, "assignments"),
    )


@router.get("/course/{course}/assignments", response_class=HTMLResponse, include_in_schema=False)
async def assignments_page(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content, role = await course_role_of(request, user, course)

    def gather() -> list[dict[str, Any]]:
        rows = context_of(request.app).grading.store.assignments(course)
        return [_summary(request, r, user.name) for r in rows if r.released_at is not None]

    return render(
        request,
        "assignments/list.html",
        user=user,
        course=content,
        role=role,
        is_staff=role in STAFF_ROLES,
        items=await asyncio.to_thread(gather),
        course_url=page_url(request, course),
        when=when,
        points=points,
        states=ATTEMPT_STATES,
        quote=quote,
    )


@router.get(
    "/course/{course}/assignments/{name}", response_class=HTMLResponse, include_in_schema=False
)
async def assignment_page(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    return await _assignment_page(request, user, course, name)


async def _assignment_page(
    request: Request, user: HubUser, course: str, name: str, error: str = "", status: int = 200
) -> HTMLResponse:
    """The student's page of one assignment; `error` says why the last submit failed."""
    content, role = await course_role_of(request, user, course)
    row = await asyncio.to_thread(_assignment, request, course, name, role)
    summary = await asyncio.to_thread(_summary, request, row, user.name)
    mine = await asyncio.to_thread(grading_api.submissions_of, request, row, user.name, False)
    attempts = list(reversed(mine["attempts"]))
    pending = any(a["status"] in progress.GRADING for a in attempts)
    notice = notice_for(
        request,
        {"again": "This submission had already arrived (attempt {n}); nothing new was stored."},
    )
    submitted = query_count(request.query_params.get("submitted"))
    if submitted is not None:
        notice = progress.submitted_notice(submitted, attempts)
    return render(
        request,
        "assignments/assignment.html",
        status_code=status,
        error=error,
        user=user,
        course=content,
        role=role,
        a=row,
        questions=json.loads(row.questions),
        summary=summary,
        attempts=attempts,
        refresh=pending and not error,  # a refused submit stays on screen
        progress_url=f"{page_url(request, course, 'assignments', name)}/progress?ticket="
        + progress.progress_ticket(request, course, name),
        notice=notice,
        # A new key per page shown: pressing Submit twice stores one submission.
        submit_key=secrets.token_urlsafe(24),
        folder=lifecycle.workspace_folder(row.name),
        url=page_url(request, course, "assignments", name),
        list_url=page_url(request, course, "assignments"),
        feedback_url=feedback_link(request, course, name),
        when=when,
        late_text=late_text,
        points=points,
        states=ATTEMPT_STATES,
    )


@router.get("/course/{course}/assignments/{name}/open", include_in_schema=False)
async def open_assignment(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(page_user)]
) -> Response:
    """Get the assignment: start the course server when it is not running (the hub's
    page shows the progress and comes back here), copy the released files into the
    workspace (never over the student's own) and open them in JupyterLab."""
    _content, role = await course_role_of(request, user, course)
    row = await asyncio.to_thread(_assignment, request, course, name, role)
    settings = context_of(request.app).settings
    layout = DataLayout(Path(settings.data_dir))
    try:
        await asyncio.to_thread(
            resolve_course_server,
            context_of(request.app).courses,
            layout,
            user.name,
            user.role,
            course,
            Path("/"),
        )
    except CourseAccessError as exc:
        raise ApiError(403, f"You cannot open this assignment: {exc}.") from None
    if not await server_ready(request, user.name, course):
        back = quote(request.url.path)
        spawn = f"{settings.hub_prefix}spawn/{quote(user.name)}/{quote(course)}?next={back}"
        return RedirectResponse(spawn, status_code=302)
    try:
        result = await grading_api.fetch(request, course, name, user)
    except ApiError as exc:
        if not shown_on_form(exc):
            raise
        message = sentence(exc.message) + " Your workspace was not changed."
        return await _assignment_page(request, user, course, name, message, exc.status_code)
    log.info("%s got %s/%s (%s)", user.name, course, name, result)
    return RedirectResponse(_lab_url(request, user.name, course, row), status_code=302)


@router.post("/course/{course}/assignments/{name}/submit", include_in_schema=False)
async def submit_page(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    """Submit the assignment folder of the caller's workspace, keyed by the page."""
    _content, role = await course_role_of(request, user, course)
    row = await asyncio.to_thread(_assignment, request, course, name, role)
    key = str((await request.form()).get("key") or "") or None
    try:
        result = await grading_api.submit_work(request, row, user.name, None, key)
    except ApiError as exc:
        if not shown_on_form(exc):
            raise
        message = sentence(exc.message) + " Nothing was submitted."
        return await _assignment_page(request, user, course, name, message, exc.status_code)
    url = page_url(request, course, "assignments", name)
    if result["duplicate"]:
        return redirect_back(url, again=result["attempt"])
    log.info("%s submitted %s/%s attempt %d", user.name, course, name, result["attempt"])
    return redirect_back(url, submitted=result["attempt"])
