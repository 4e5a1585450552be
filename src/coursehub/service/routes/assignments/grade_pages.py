"""Grading one student's work by hand: each question's answer (from their latest
attempt, shown in a sandboxed frame: it is the student's content) beside its points
and comment fields, the way to the previous and next student, and how many are left
to grade. The course's staff only (TAs too)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from coursehub.grading import answers
from coursehub.grading.autograde import graded_notebooks
from coursehub.grading.errors import SubmissionError
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.routes.assignments import api as grading_api
from coursehub.service.routes.assignments.api import MAX_COMMENT, _gradebook_rows
from coursehub.service.routes.assignments.views import (
    ATTEMPT_STATES,
    feedback_link,
    form_values,
    late_text,
    notice_for,
    page_url,
    points,
    redirect_back,
    shown_on_form,
    staff_row,
    when,
)
from coursehub.service.routes.live.pages import VIEW_CSP
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()


def _neighbours(rows: list[Any], username: str) -> dict[str, Any]:
    """Previous and next student who submitted, the next one still to grade by hand
    (after this one, wrapping round), and how many are left to grade."""
    submitted = [r.username for r in rows if r.submission_id is not None]
    pending = [r.username for r in rows if r.submission_id is not None and r.pending_manual]
    here = submitted.index(username) if username in submitted else -1
    later = [u for u in submitted[here + 1 :] + submitted[: max(here, 0)] if u in pending]
    return {
        "previous": submitted[here - 1] if here > 0 else None,
        "next": submitted[here + 1] if 0 <= here < len(submitted) - 1 else None,
        "next_pending": next((u for u in later if u != username), None),
        "left": len(pending),
        "position": here + 1,
        "submitted": len(submitted),
    }


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
    return await grading_page(request, user, course, name, username)


async def grading_page(
    request: Request,
    user: HubUser,
    course: str,
    name: str,
    username: str,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The page; with `error`, the grades form shown again with what was typed."""
    content, role, row = await staff_row(request, user, course, name)
    work = await asyncio.to_thread(grading_api.submissions_of, request, row, username, True)
    latest = work["attempts"][-1] if work["attempts"] else None
    store = context_of(request.app).grading.store
    manual = {}
    if latest is not None:
        manual = await asyncio.to_thread(store.manual_grades, latest["id"])
    due = await asyncio.to_thread(store.due_for, row, username)
    rows = await asyncio.to_thread(_gradebook_rows, request, row)
    notice = notice_for(
        request, {"saved": "Grades saved.", "queued": "{n} submission{s} queued for grading."}
    )
    url = page_url(request, course, "staff", "assignments", name)
    student_url = f"{url}/students/{quote(username, safe='')}"
    return render(
        request,
        "assignments/grade.html",
        status_code=status,
        error=error,
        values=values,
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
        nav=_neighbours(rows, username),
        student_url=lambda other: f"{url}/students/{quote(other, safe='')}",
        answer_url=lambda sid, q: f"{student_url}/answer/{sid}/{quote(q, safe='')}",
        grade_url=f"{student_url}/grade",
        feedback_url=feedback_link(request, course, name),
        when=when,
        late_text=late_text,
        points=points,
        states=ATTEMPT_STATES,
    )


@router.get(
    "/course/{course}/staff/assignments/{name}/students/{username}/answer/{sid}/{question}",
    include_in_schema=False,
)
async def answer_frame(
    request: Request,
    course: str,
    name: str,
    username: str,
    sid: int,
    question: str,
    user: Annotated[HubUser, Depends(page_user)],
) -> Response:
    """One answer of one submission, for the sandboxed frame beside its fields: the
    student's cells, rendered without scripts, under a sandbox policy (its own opaque
    origin), so nothing in them runs with the staff member's cookies."""
    _content, _role, row = await staff_row(request, user, course, name)
    store = context_of(request.app).grading.store
    try:
        sub = await asyncio.to_thread(store.submission, sid)
    except SubmissionError:
        sub = None
    wanted = next((q for q in json.loads(row.questions) if q["name"] == question), None)
    if sub is None or sub.assignment_id != row.id or sub.username != username or not wanted:
        raise ApiError(404, "There is no such answer.")
    folder = await asyncio.to_thread(store.submission_files, sub)
    graded = graded_notebooks(store.paths, course, sid)
    html = await asyncio.to_thread(answers.answer_html, folder, row.format, wanted, graded)
    return HTMLResponse(
        html, headers={"Content-Security-Policy": VIEW_CSP, "Cache-Control": "no-store"}
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
        raw, comment = str(raw or "").strip(), str(comment or "").strip()
        if len(comment) > MAX_COMMENT:
            raise ApiError(
                400,
                f"The comment on {qname} has {len(comment)} characters; it may have at most "
                f"{MAX_COMMENT}. Shorten it.",
            )
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
    the autograder's; a manually graded question stays pending until given points).
    A mistake saves nothing and shows the form again as it was sent."""
    _content, _role_, row = await staff_row(request, user, course, name)
    form = await request.form()
    store = context_of(request.app).grading.store
    try:
        changes = await _checked_changes(store, row, username, form)
    except ApiError as exc:
        if not shown_on_form(exc):
            raise
        values = form_values(form)
        return await grading_page(
            request, user, course, name, username, exc.message, values, exc.status_code
        )
    sid = int(str(form.get("submission")))
    for question, value, comment in changes:
        await asyncio.to_thread(store.set_manual, sid, question, value, comment, user.name)
    if changes:
        await context_of(request.app).grading.manual_changed(sid)
        log.info("%s graded %s/%s of %s by hand: %s", user.name, course, name, username, changes)
    then = username
    if form.get("then") == "next":
        rows = await asyncio.to_thread(_gradebook_rows, request, row)
        nav = _neighbours(rows, username)
        then = nav["next_pending"] or nav["next"] or username
    back = page_url(request, course, "staff", "assignments", name, "students", then)
    return redirect_back(back, saved=len(changes))


async def _checked_changes(
    store: Any, row: Any, username: str, form: Any
) -> list[tuple[str, float | None, str]]:
    try:
        sid = int(str(form.get("submission") or ""))
    except ValueError:
        raise ApiError(400, "This form names no submission; reload the page.") from None
    latest = await asyncio.to_thread(store.submissions, row.id, username)
    if not latest or latest[-1].id != sid:
        raise ApiError(
            409,
            f"{username} submitted again since this page was shown, so nothing was saved. "
            "The page now shows the newest attempt with the grades you typed: check its "
            "answers, then save again.",
        )
    current = await asyncio.to_thread(store.manual_grades, sid)
    return _manual_changes(form, json.loads(row.questions), current)
