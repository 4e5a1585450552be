"""Correcting an assignment: preview the student version (staff), edit its title and
due date, un-release it, delete it (instructors).

Editing changes the title and the due date only: questions, files and released copies
stay. Un-releasing hides the assignment from students and refuses new copies and
submissions; what they already got stays in their workspaces and submissions and
grades are kept. Deleting asks for a confirmation, and once there are submissions for
a second one (the assignment's name typed); everything goes into a backup file first
(grading/archive.py), which the list page names afterwards.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from coursehub.courses.shares import ShareError, notebook_html
from coursehub.grading import archive, lifecycle
from coursehub.grading.errors import AssignmentError, HasSubmissions
from coursehub.grading.paths import MAX_TITLE, NAME_RE
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.routes.assignments.views import (
    form_time,
    form_values,
    page_url,
    parse_due,
    points,
    query_count,
    redirect_back,
    sentence,
    shown_on_form,
    staff_row,
    time_zone,
    when,
)
from coursehub.service.routes.live.pages import VIEW_CSP
from coursehub.service.templating import render

MINUTE = timedelta(minutes=1)

log = logging.getLogger("coursehub.service")
router = APIRouter()

MAX_PREVIEW_TEXT = 200_000  # characters of a data file shown in the preview
BACKUP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.tar\.gz$")
# Shown on the assignment's page after these forms (numbers only come from the query).
CHANGE_NOTICES = {
    "edited": "Saved.",
    "remeasured": "Saved. The lateness of {n} submission{s} was measured again against the "
    "new due date.",
    "unreleased": "Un-released: students no longer see this assignment, get it or submit "
    "it. Copies they already got stay in their workspaces, and submissions and grades are "
    "kept. Release it again to give it back.",
}


def _base(request: Request, course: str, name: str) -> str:
    return page_url(request, course, "staff", "assignments", name)


# ---- preview -----------------------------------------------------------------


@router.get(
    "/course/{course}/staff/assignments/{name}/preview",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def preview_page(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    """What students get: the student version's files, notebooks rendered (solutions
    and hidden tests are already gone from them)."""
    content, role, row = await staff_row(request, user, course, name)
    files = json.loads(row.files)
    base = _base(request, course, name)
    return render(
        request,
        "assignments/preview.html",
        user=user,
        course=content,
        role=role,
        a=row,
        notebooks=[f for f in files if f.endswith(".ipynb")],
        others=[f for f in files if not f.endswith(".ipynb")],
        url=base,
        file_url=lambda f: f"{base}/preview/file/{f}",
        folder=lifecycle.workspace_folder(row.name),
    )


@router.get(
    "/course/{course}/staff/assignments/{name}/preview/file/{path:path}", include_in_schema=False
)
async def preview_file(
    request: Request,
    course: str,
    name: str,
    path: str,
    user: Annotated[HubUser, Depends(page_user)],
) -> Response:
    """One file of the student version, for the preview's sandboxed frame."""
    _content, _role, row = await staff_row(request, user, course, name)
    if path not in json.loads(row.files):
        raise ApiError(404, "The student version has no such file.")
    store = context_of(request.app).grading.store
    target = store.paths.student_version(course, name, row.format) / path

    def build() -> str:
        data = target.read_bytes()
        if path.endswith(".ipynb"):
            return notebook_html(data, path)
        text = data[:MAX_PREVIEW_TEXT].decode("utf-8", "replace")
        return f"<pre>{html.escape(text)}</pre>"

    try:
        page = await asyncio.to_thread(build)
    except (OSError, ShareError):
        page = "<p>This file cannot be shown.</p>"
    return HTMLResponse(
        page, headers={"Content-Security-Policy": VIEW_CSP, "Cache-Control": "no-store"}
    )


# ---- edit --------------------------------------------------------------------


@router.get(
    "/course/{course}/staff/assignments/{name}/edit",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def edit_page(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    return await _edit_form(request, user, course, name)


async def _edit_form(
    request: Request,
    user: HubUser,
    course: str,
    name: str,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    content, role, row = await staff_row(request, user, course, name, instructor=True)
    stored = form_time(row.due_at)
    shown = values or {"title": row.title, "due": stored["value"]}
    return render(
        request,
        "assignments/edit.html",
        status_code=status,
        error=error,
        values=shown,
        due_utc="" if values else stored["utc"],  # a refilled form keeps what was typed
        user=user,
        course=content,
        role=role,
        a=row,
        max_title=MAX_TITLE,
        url=_base(request, course, name),
        time_zone=time_zone(),
        when=when,
    )


@router.post("/course/{course}/staff/assignments/{name}/edit", include_in_schema=False)
async def edit_save(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    """Save the title and the due date; nothing else of the assignment changes."""
    _content, _role, row = await staff_row(request, user, course, name, instructor=True)
    form = await request.form()
    values = form_values(form)
    store = context_of(request.app).grading.store
    due_text = values.get("due", "").strip()
    try:
        due = parse_due(due_text, values.get("zone", ""))
        # the field shows the stored time to the minute: unchanged unless moved by one
        due_changed = (due is None) != (row.due_at is None) or (
            due is not None and row.due_at is not None and abs(due - row.due_at) >= MINUTE
        )
        due = due if due_changed else None
        remeasured = await asyncio.to_thread(
            store.edit_assignment,
            row.id,
            title=values.get("title", row.title),
            due_at=due,
            clear_due=due_changed and not due_text,
        )
    except (ApiError, AssignmentError) as exc:
        if isinstance(exc, ApiError) and not shown_on_form(exc):
            raise
        message = exc.message if isinstance(exc, ApiError) else sentence(str(exc))
        return await _edit_form(request, user, course, name, message, values, 400)
    log.info("%s edited %s/%s: %s", user.name, course, name, values)
    if remeasured:
        return redirect_back(_base(request, course, name), remeasured=remeasured)
    return redirect_back(_base(request, course, name), edited=1)


# ---- un-release --------------------------------------------------------------


@router.post("/course/{course}/staff/assignments/{name}/unrelease", include_in_schema=False)
async def unrelease_page(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    _content, _role, row = await staff_row(request, user, course, name, instructor=True)
    store = context_of(request.app).grading.store
    await asyncio.to_thread(lifecycle.unpublish, store, row)
    log.info("%s un-released %s/%s", user.name, course, name)
    return redirect_back(_base(request, course, name), unreleased=1)


# ---- delete ------------------------------------------------------------------


def _counts(request: Request, row: Any) -> tuple[int, int]:
    subs = context_of(request.app).grading.store.submissions(row.id)
    return len(subs), len({s.username for s in subs})


@router.get(
    "/course/{course}/staff/assignments/{name}/delete",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def delete_page(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    return await _delete_form(request, user, course, name)


async def _delete_form(
    request: Request,
    user: HubUser,
    course: str,
    name: str,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    content, role, row = await staff_row(request, user, course, name, instructor=True)
    submissions, students = await asyncio.to_thread(_counts, request, row)
    return render(
        request,
        "assignments/delete.html",
        status_code=status,
        error=error,
        values=values or {},
        user=user,
        course=content,
        role=role,
        a=row,
        submissions=submissions,
        students=students,
        url=_base(request, course, name),
        when=when,
        points=points,
    )


@router.post("/course/{course}/staff/assignments/{name}/delete", include_in_schema=False)
async def delete_confirmed(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    """Delete after the confirmation page; with submissions only when the name was
    typed too. A backup file keeps everything first."""
    await staff_row(request, user, course, name, instructor=True)
    form = await request.form()
    values = form_values(form)
    typed = values.get("confirm_name", "").strip()
    store = context_of(request.app).grading.store
    try:
        done = await asyncio.to_thread(archive.delete, store, course, name, typed == name)
    except HasSubmissions as exc:
        where = "Type its name" if not typed else f"{typed[:80]!r} is not its name: type it"
        message = (
            f"{name} has {exc.submissions} submission{'s' if exc.submissions != 1 else ''} "
            f"from {exc.students} student{'s' if exc.students != 1 else ''}, so it was not "
            f"deleted. {where} below to delete it with them (they are kept in a backup file)."
        )
        return await _delete_form(request, user, course, name, message, values, 409)
    log.info(
        "%s deleted %s/%s (%d submissions), kept in %s",
        user.name, course, name, done.submissions, done.backup,
    )  # fmt: skip
    return redirect_back(
        page_url(request, course, "staff", "assignments"),
        deleted=name,
        kept=done.submissions,
        backup=done.backup.name,
    )


def deleted_notice(request: Request) -> str:
    """The list page's message after a deletion, naming the backup file (only names
    that are the course's backup files are ever shown)."""
    name = request.query_params.get("deleted", "")
    backup = request.query_params.get("backup", "")
    kept = query_count(request.query_params.get("kept", "0"))
    course = request.path_params.get("course", "")
    if not (NAME_RE.match(name) and BACKUP_RE.match(backup)) or kept is None:
        return ""
    if not backup.startswith(f"{course}-{name}-"):
        return ""
    folder = context_of(request.app).grading.store.paths.deleted_backups()
    if not (folder / backup).is_file():
        return ""
    held = f"its {kept} submission{'s' if kept != 1 else ''} with their grades and " if kept else ""
    return (
        f"Deleted {name}. A backup file keeps {held}its files: {backup}, in the folder "
        "backups/deleted-assignments of the site's data directory."
    )
