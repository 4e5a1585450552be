"""The feedback of one attempt as a page of the site: the course and assignment, the
total (and whether it is final), each question's points, state, test message and
staff's comment, the graded notebook, and the way back.

The graded notebook holds the student's outputs, so it is never part of this page: it
is the API's feedback document (api.feedback), shown in a frame that is sandboxed twice
(the frame's `sandbox` attribute and the document's own CSP `sandbox`), so nothing in
it runs, and it can neither reach this origin nor navigate the page.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from coursehub.grading.errors import SubmissionError
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import STAFF_ROLES
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser
from coursehub.service.routes.assignments import api as grading_api
from coursehub.service.routes.assignments.views import (
    ATTEMPT_STATES,
    api_url,
    course_role_of,
    late_text,
    page_url,
    points,
    when,
)
from coursehub.service.templating import render

router = APIRouter()


def _attempt(request: Request, row: Any, sid: int, username: str, staff: bool) -> dict[str, Any]:
    """Attempt `sid` of the assignment `row`, for its author or staff; else 404."""
    store = context_of(request.app).grading.store
    try:
        sub = store.submission(sid)
    except SubmissionError:
        sub = None
    if sub is None or sub.assignment_id != row.id or (not staff and sub.username != username):
        raise ApiError(404, "There is no such feedback.")
    mine = grading_api.submissions_of(request, row, sub.username, staff)
    return next(a for a in mine["attempts"] if a["id"] == sid) | {"username": sub.username}


@router.get(
    "/course/{course}/assignments/{name}/feedback/{sid}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def feedback_page(
    request: Request,
    course: str,
    name: str,
    sid: int,
    user: Annotated[HubUser, Depends(page_user)],
) -> HTMLResponse:
    content, role = await course_role_of(request, user, course)
    row = await asyncio.to_thread(grading_api._assignment, request, course, name, role)
    staff = role in STAFF_ROLES
    attempt = await asyncio.to_thread(_attempt, request, row, sid, user.name, staff)
    notebooks: list[str] = attempt["feedback"]
    chosen = request.query_params.get("notebook") or (notebooks[0] if notebooks else "")
    if notebooks and chosen not in notebooks:
        raise ApiError(404, f"This attempt has no feedback for {chosen[:100]!r}.")
    student = attempt["username"]
    if staff and student != user.name:
        back = page_url(request, course, "staff", "assignments", name, "students", student)
        back_label = f"{student}'s work on {row.title}"
    else:
        back = page_url(request, course, "assignments", name)
        back_label = row.title
    here = page_url(request, course, "assignments", name, "feedback", str(sid))
    return render(
        request,
        "assignments/feedback.html",
        headers={"Refresh": "5"} if attempt["status"] in ("queued", "running") else None,
        user=user,
        course=content,
        a=row,
        t=attempt,
        student=student,
        staff=staff,
        questions=json.loads(row.questions),
        notebooks=notebooks,
        chosen=chosen,
        notebook_url=lambda nb: f"{here}?notebook={quote(nb)}",
        frame_url=f"{api_url(request, course, name)}/feedback/{sid}/{quote(chosen)}",
        course_url=page_url(request, course),
        back_url=back,
        back_label=back_label,
        when=when,
        late_text=late_text,
        points=points,
        states=ATTEMPT_STATES,
    )
