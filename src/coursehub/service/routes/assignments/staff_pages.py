"""The staff's assignment pages: the course's assignments, create by upload, release,
grade again, the gradebook, extensions and the CSV export (served by the API); edit,
preview, un-release and delete are in staff_changes, grading by hand in grade_pages.
A form's mistake shows the form again, filled in, with what to fix. Access is
course_access's one check: students of the course get 403, as TAs do for what only
instructors may do (create, release, extend, edit, delete); everyone else 404."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import HTMLResponse, Response

from coursehub.grading.errors import AssignmentError
from coursehub.grading.paths import MAX_NAME, MAX_TITLE, check_name, check_title
from coursehub.grading.store import MAX_BYTES, MAX_FILES
from coursehub.service.auth import page_user
from coursehub.service.body_limits import body_limit
from coursehub.service.context import context_of
from coursehub.service.course_access import INSTRUCTORS, STAFF_ROLES
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_sender, form_user, signed_in_before_body
from coursehub.service.identity import HubUser
from coursehub.service.routes.assignments import api as grading_api
from coursehub.service.routes.assignments import grade_pages, staff_changes
from coursehub.service.routes.assignments.api import MAX_UPLOAD_BODY, _gradebook_rows
from coursehub.service.routes.assignments.staff_changes import CHANGE_NOTICES, deleted_notice
from coursehub.service.routes.assignments.views import (
    api_url,
    course_role_of,
    form_time,
    form_values,
    late_text,
    notice_for,
    page_url,
    parse_due,
    points,
    redirect_back,
    sentence,
    shown_on_form,
    staff_row,
    time_zone,
    when,
)
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()
router.include_router(staff_changes.router)
router.include_router(grade_pages.router)

NEEDS_GRADING_FILTER = "needs-grading"  # ?show=: the gradebook's rows a person must grade


TOO_LARGE = (
    f"These files are too large: an assignment's files may hold at most {MAX_BYTES >> 20} MB "
    "in all. Leave out large data files (students can download them from the course's "
    "repository) and upload again."
)


async def upload_user(request: Request) -> HubUser:
    """forms.form_user for the one form that carries files: the same checks (the
    caller's before the body is read), with the assignment API's size limit (the
    route's body_limit) instead of 64 KiB. A body over it is not read: the route shows
    the form again with the reason (request.state.upload_refused)."""
    user = await signed_in_before_body(request)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD_BODY:
        request.state.upload_refused = TOO_LARGE
        return user
    form = await request.form(max_files=MAX_FILES, max_fields=20)
    return await form_sender(request, form)


@router.get(
    "/course/{course}/staff/assignments", response_class=HTMLResponse, include_in_schema=False
)
async def staff_assignments(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    return await list_page(request, user, course)


async def list_page(
    request: Request,
    user: HubUser,
    course: str,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The course's assignments; with `error`, the creation form shown again."""
    content, role = await course_role_of(request, user, course, STAFF_ROLES)

    def gather() -> list[dict[str, Any]]:
        store = context_of(request.app).grading.store
        return [
            {"row": r, "submitted": len({s.username for s in store.submissions(r.id)})}
            for r in store.assignments(course)
        ]

    students = await asyncio.to_thread(context_of(request.app).courses.members, course, "student")
    return render(
        request,
        "assignments/staff_list.html",
        status_code=status,
        error=error,
        values=values or {},
        notice=deleted_notice(request),
        max_name=MAX_NAME,
        max_title=MAX_TITLE,
        user=user,
        course=content,
        role=role,
        can_manage=role == "instructor",
        items=await asyncio.to_thread(gather),
        students=len(students),
        staff_url=page_url(request, course, "staff"),
        url=page_url(request, course, "staff", "assignments"),
        time_zone=time_zone(),
        when=when,
        points=points,
        quote=quote,
    )


@router.post("/course/{course}/staff/assignments", include_in_schema=False)
@body_limit(MAX_UPLOAD_BODY)
async def create_page(
    request: Request, course: str, user: Annotated[HubUser, Depends(upload_user)]
) -> Response:
    """Create (or remake) an assignment from uploaded notebooks and data files; a
    mistake shows the form again, filled in, with what to fix."""
    await course_role_of(request, user, course, INSTRUCTORS)
    refused = getattr(request.state, "upload_refused", "")
    if refused:
        return await list_page(request, user, course, refused, status=413)
    form = await request.form()
    values = form_values(form)
    try:
        made = await _create(request, course, form)
    except ApiError as exc:
        if not shown_on_form(exc):
            raise
        sent = any(isinstance(f, UploadFile) and f.filename for f in form.getlist("files"))
        again = " Choose the files again (the browser does not keep them)." if sent else ""
        return await list_page(
            request, user, course, exc.message + again, values, status=exc.status_code
        )
    files = len(form.getlist("files"))
    log.info("%s created %s/%s from %d uploaded files", user.name, course, made["name"], files)
    return redirect_back(page_url(request, course, "staff", "assignments", made["name"]), created=1)


async def _create(request: Request, course: str, form: Any) -> dict[str, Any]:
    name = str(form.get("name") or "").strip()
    due = parse_due(str(form.get("due") or ""), str(form.get("zone") or ""))
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    if not name:
        raise ApiError(400, "Give the assignment a short name (letters, digits, - and _).")
    try:
        check_name(name)
        title = check_title(str(form.get("title") or ""))
    except AssignmentError as exc:
        raise ApiError(400, sentence(str(exc))) from None
    if not files:
        raise ApiError(400, "Choose the assignment's notebook (and any data files) to upload.")
    uploads = await grading_api.read_uploads(files)
    made = await grading_api.create_from_uploads(request, course, name, uploads)
    changes = {k: v for k, v in (("title", title), ("due_at", due)) if v}
    if changes:
        store = context_of(request.app).grading.store
        row = await asyncio.to_thread(store.get, course, made["name"])
        await asyncio.to_thread(store.update_assignment, row.id, **changes)
    return made


@router.get(
    "/course/{course}/staff/assignments/{name}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def staff_assignment(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    return await assignment_page(request, user, course, name)


async def assignment_page(
    request: Request,
    user: HubUser,
    course: str,
    name: str,
    error: tuple[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The gradebook and the actions; `error` (form, message) shows that form again."""
    content, role, row = await staff_row(request, user, course, name)
    rows = await asyncio.to_thread(_gradebook_rows, request, row)
    members = await asyncio.to_thread(context_of(request.app).courses.members, course, "student")
    counts = {"all": len(rows), "needs_grading": sum(r.needs_grading for r in rows)}
    show_needs_grading = request.query_params.get("show") == NEEDS_GRADING_FILTER
    notice = notice_for(
        request,
        {
            "created": "The assignment is ready. Students see it once it is released.",
            "released": "Released: copied into {n} workspace{s}; the others get it when they "
            "open it.",
            "queued": "{n} submission{s} queued for grading.",
            "extended": "Extension saved.",
            "extended_early": "Extension saved. Note: it is earlier than the assignment's due "
            "date, so this student now has less time than the others.",
            **CHANGE_NOTICES,
        },
    )
    return render(
        request,
        "assignments/staff_assignment.html",
        status_code=status,
        error=error or ("", ""),
        values=values or {},
        user=user,
        course=content,
        role=role,
        can_manage=role == "instructor",
        a=row,
        questions=json.loads(row.questions),
        rows=[r for r in rows if r.needs_grading] if show_needs_grading else rows,
        counts=counts,
        show_needs_grading=show_needs_grading,
        students=sorted(m.username for m in members),
        grading=sum(r.status in ("queued", "running") for r in rows),
        notice=notice,
        url=page_url(request, course, "staff", "assignments", name),
        list_url=page_url(request, course, "staff", "assignments"),
        student_page=page_url(request, course, "assignments", name),
        csv_url=f"{api_url(request, course, name)}/gradebook.csv",
        time_zone=time_zone(),
        due_field=form_time(row.due_at),
        when=when,
        late_text=late_text,
        points=points,
        quote=quote,
    )


@router.post("/course/{course}/staff/assignments/{name}/release", include_in_schema=False)
async def release_page(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    _content, _role_, row = await staff_row(request, user, course, name, instructor=True)
    copied = await asyncio.to_thread(grading_api.release_to_students, request, row)
    log.info("%s released %s/%s (copied to %d)", user.name, course, name, copied)
    return redirect_back(page_url(request, course, "staff", "assignments", name), released=copied)


@router.post("/course/{course}/staff/assignments/{name}/autograde", include_in_schema=False)
async def autograde_page(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    """Grade again: every latest submission, or the one named by ?submission=."""
    await staff_row(request, user, course, name)
    queued = await grading_api.autograde(request, course, name, user)
    back = page_url(request, course, "staff", "assignments", name)
    username = str((await request.form()).get("student") or "")
    if username:
        back = page_url(request, course, "staff", "assignments", name, "students", username)
    return redirect_back(back, queued=queued["queued"])


@router.post("/course/{course}/staff/assignments/{name}/extension", include_in_schema=False)
async def extension_page(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    _content, _role_, row = await staff_row(request, user, course, name, instructor=True)
    form = await request.form()
    username = str(form.get("username") or "")
    try:
        due = parse_due(str(form.get("due") or ""), str(form.get("zone") or ""))
        await asyncio.to_thread(grading_api.check_student, request, course, username)
        if due is None:
            raise ApiError(400, "Give the new due date and time.")
    except ApiError as exc:
        if not shown_on_form(exc):
            raise
        return await assignment_page(
            request, user, course, name, ("extension", exc.message), form_values(form), 400
        )
    store = context_of(request.app).grading.store
    await asyncio.to_thread(store.grant_extension, row.id, username, due, user.name)
    log.info("%s extended %s/%s for %s to %s", user.name, course, name, username, due)
    back = page_url(request, course, "staff", "assignments", name)
    if row.due_at is not None and due < row.due_at:  # allowed, but said
        return redirect_back(back, extended_early=1)
    return redirect_back(back, extended=1)
