"""The staff's assignment pages: the course's assignments, create by upload, release,
grade again, the gradebook, grading by hand, extensions and the CSV export (served by
the API). Access is course_access's one check: students of the course get 403,
as TAs do for what only instructors may do (create, release, extend); everyone else
404."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import HTMLResponse, Response

from coursehub.grading.store import MAX_BYTES, MAX_FILES
from coursehub.service.auth import page_user
from coursehub.service.body_limits import body_limit
from coursehub.service.context import context_of
from coursehub.service.course_access import INSTRUCTORS, STAFF_ROLES
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_sender, form_user, signed_in_before_body
from coursehub.service.identity import HubUser
from coursehub.service.routes.assignments import api as grading_api
from coursehub.service.routes.assignments.api import (
    MAX_COMMENT,
    MAX_UPLOAD_BODY,
    _assignment,
    _gradebook_rows,
)
from coursehub.service.routes.assignments.views import (
    ATTEMPT_STATES,
    api_url,
    course_role_of,
    feedback_link,
    form_time,
    late_text,
    notice_for,
    page_url,
    parse_due,
    points,
    redirect_back,
    time_zone,
    when,
)
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()

NEEDS_GRADING_FILTER = "needs-grading"  # ?show=: the gradebook's rows a person must grade


async def _staff_row(
    request: Request, user: HubUser, course: str, name: str, instructor: bool = False
) -> tuple[Any, str, Any]:
    allowed = INSTRUCTORS if instructor else STAFF_ROLES
    content, role = await course_role_of(request, user, course, allowed)
    row = await asyncio.to_thread(_assignment, request, course, name, role)
    return content, role, row


async def upload_user(request: Request) -> HubUser:
    """forms.form_user for the one form that carries files: the same checks (the
    caller's before the body is read), with the assignment API's size limit (the
    route's body_limit) instead of 64 KiB."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD_BODY:
        raise ApiError(413, f"An assignment's files may hold at most {MAX_BYTES >> 20} MB.")
    await signed_in_before_body(request)
    form = await request.form(max_files=MAX_FILES, max_fields=20)
    return await form_sender(request, form)


@router.get(
    "/course/{course}/staff/assignments", response_class=HTMLResponse, include_in_schema=False
)
async def staff_assignments(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
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
    """Create (or remake) an assignment from uploaded notebooks and data files."""
    await course_role_of(request, user, course, INSTRUCTORS)
    form = await request.form()
    name = str(form.get("name") or "").strip()
    title = str(form.get("title") or "").strip()[:200]
    due = parse_due(str(form.get("due") or ""), str(form.get("zone") or ""))
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    if not name:
        raise ApiError(400, "Give the assignment a short name (letters, digits, - and _).")
    if not files:
        raise ApiError(400, "Choose the assignment's notebook (and any data files) to upload.")
    uploads = await grading_api.read_uploads(files)
    made = await grading_api.create_from_uploads(request, course, name, uploads)
    changes = {k: v for k, v in (("title", title), ("due_at", due)) if v}
    if changes:
        store = context_of(request.app).grading.store
        row = await asyncio.to_thread(store.get, course, made["name"])
        await asyncio.to_thread(store.update_assignment, row.id, **changes)
    log.info("%s created %s/%s from %d uploaded files", user.name, course, name, len(files))
    return redirect_back(page_url(request, course, "staff", "assignments", made["name"]), created=1)


@router.get(
    "/course/{course}/staff/assignments/{name}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def staff_assignment(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content, role, row = await _staff_row(request, user, course, name)
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
        },
    )
    return render(
        request,
        "assignments/staff_assignment.html",
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
    _content, _role_, row = await _staff_row(request, user, course, name, instructor=True)
    copied = await asyncio.to_thread(grading_api.release_to_students, request, row)
    log.info("%s released %s/%s (copied to %d)", user.name, course, name, copied)
    return redirect_back(page_url(request, course, "staff", "assignments", name), released=copied)


@router.post("/course/{course}/staff/assignments/{name}/autograde", include_in_schema=False)
async def autograde_page(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    """Grade again: every latest submission, or the one named by ?submission=."""
    await _staff_row(request, user, course, name)
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
    _content, _role_, row = await _staff_row(request, user, course, name, instructor=True)
    form = await request.form()
    username = str(form.get("username") or "")
    due = parse_due(str(form.get("due") or ""), str(form.get("zone") or ""))
    await asyncio.to_thread(grading_api.check_student, request, course, username)
    if due is None:
        raise ApiError(400, "Give the new due date and time.")
    store = context_of(request.app).grading.store
    await asyncio.to_thread(store.grant_extension, row.id, username, due, user.name)
    log.info("%s extended %s/%s for %s to %s", user.name, course, name, username, due)
    back = page_url(request, course, "staff", "assignments", name)
    if row.due_at is not None and due < row.due_at:  # allowed, but said
        return redirect_back(back, extended_early=1)
    return redirect_back(back, extended=1)


@router.get(
    "/course/{course}/staff/assignments/{name}/students/{username}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def student_page(
    request: Request,
    course: str,
    name: str,
    username: str,
    user: Annotated[HubUser, Depends(page_user)],
) -> HTMLResponse:
    content, role, row = await _staff_row(request, user, course, name)
    work = await asyncio.to_thread(grading_api.submissions_of, request, row, username, True)
    latest = work["attempts"][-1] if work["attempts"] else None
    manual = {}
    if latest is not None:
        store = context_of(request.app).grading.store
        manual = await asyncio.to_thread(store.manual_grades, latest["id"])
    due = await asyncio.to_thread(context_of(request.app).grading.store.due_for, row, username)
    notice = notice_for(
        request, {"saved": "Grades saved.", "queued": "{n} submission{s} queued for grading."}
    )
    url = page_url(request, course, "staff", "assignments", name)
    return render(
        request,
        "assignments/grade.html",
        user=user,
        course=content,
        role=role,
        a=row,
        student=username,
        due=due,
        questions=json.loads(row.questions),
        attempts=list(reversed(work["attempts"])),
        latest=latest,
        manual=manual,
        notice=notice,
        url=url,
        grade_url=f"{url}/students/{quote(username, safe='')}/grade",
        feedback_url=feedback_link(request, course, name),
        when=when,
        late_text=late_text,
        points=points,
        states=ATTEMPT_STATES,
    )


def _manual_changes(
    form: Any, questions: list[dict[str, Any]], current: dict[str, Any]
) -> list[tuple[str, float | None, str]]:
    """The (question, points, comment) the form changes, each checked first: a bad
    value saves nothing."""
    changes = []
    for q in questions:
        qname, most = q["name"], float(q["points"])
        raw = form.get(f"points:{qname}")
        comment = form.get(f"comment:{qname}")
        if raw is None and comment is None:
            continue
        raw, comment = str(raw or "").strip(), str(comment or "").strip()[:MAX_COMMENT]
        value: float | None = None
        if raw:
            try:
                value = float(raw)
            except ValueError:
                message = f"Points for {qname} must be a number, not {raw[:20]!r}."
                raise ApiError(400, message) from None
            if not 0 <= value <= most:
                raise ApiError(400, f"Points for {qname} must be between 0 and {most:g}.")
        old = current.get(qname)
        before = (old.points, old.comment) if old is not None else (None, "")
        if before != (value, comment):
            changes.append((qname, value, comment))
    return changes


@router.post(
    "/course/{course}/staff/assignments/{name}/students/{username}/grade",
    include_in_schema=False,
)
async def grade_page(
    request: Request,
    course: str,
    name: str,
    username: str,
    user: Annotated[HubUser, Depends(form_user)],
) -> Response:
    """Points and comments by hand on the student's latest attempt (blank points keep
    the autograder's; a manually graded question stays pending until given points)."""
    _content, _role_, row = await _staff_row(request, user, course, name)
    form = await request.form()
    store = context_of(request.app).grading.store
    try:
        sid = int(str(form.get("submission") or ""))
    except ValueError:
        raise ApiError(400, "This form names no submission; reload the page.") from None
    latest = await asyncio.to_thread(store.submissions, row.id, username)
    if not latest or latest[-1].id != sid:
        raise ApiError(
            409, f"{username} submitted again since this page was shown; reload it and retry."
        )
    current = await asyncio.to_thread(store.manual_grades, sid)
    changes = _manual_changes(form, json.loads(row.questions), current)
    for question, value, comment in changes:
        await asyncio.to_thread(store.set_manual, sid, question, value, comment, user.name)
    if changes:
        await context_of(request.app).grading.manual_changed(sid)
        log.info("%s graded %s/%s of %s by hand: %s", user.name, course, name, username, changes)
    back = page_url(request, course, "staff", "assignments", name, "students", username)
    return redirect_back(back, saved=len(changes))
