"""Assignments over HTTP: students fetch, submit and read their feedback; staff create,
release, autograde, grade by hand and export. Identity always comes from the caller's
hub token or sign-in; nobody names the student they act as."""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from coursehub.core.errors import CoursehubError
from coursehub.core.times import EXAMPLE, TimeTextError, parse_time, utc, zone_named
from coursehub.courses.servers import workspace_for
from coursehub.courses.workspace import WorkspaceError
from coursehub.grading import gradebook, lifecycle
from coursehub.grading.autograde import feedback_pages
from coursehub.grading.errors import AssignmentError, QueueFull, SubmissionError
from coursehub.grading.store import MAX_BYTES, MAX_FILES
from coursehub.service.auth import api_user
from coursehub.service.body_limits import body_limit
from coursehub.service.context import context_of
from coursehub.service.course_access import (
    ANY_ROLE,
    INSTRUCTORS,
    STAFF_ROLES,
    require_role,
    student_of,
)
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser
from coursehub.service.routes.assignments.views import sentence, without_paths
from coursehub.service.routes.live.pages import VIEW_CSP

router = APIRouter()

MAX_COMMENT = 5000  # characters of a grader's comment on one question
MAX_UPLOAD_BODY = MAX_BYTES + 1024 * 1024  # an upload's files plus the form around them


def _role(request: Request, user: HubUser, course: str, allowed: tuple[str, ...] = ANY_ROLE) -> str:
    """The caller's role in `course` (course_access.require_role: 404 or 403)."""
    return require_role(context_of(request.app).courses, user, course, allowed)


def _assignment(request: Request, course: str, name: str, role: str) -> Any:
    store = context_of(request.app).grading.store
    try:
        row = store.get(course, name)
    except AssignmentError:
        row = None
    if row is None or (role not in STAFF_ROLES and row.released_at is None):
        if role in STAFF_ROLES:
            raise ApiError(404, f"Course {course} has no assignment {name!r}.")
        # The same words whether it never existed, is not released yet or was taken
        # back: students learn nothing of unreleased assignments from them.
        raise ApiError(
            404,
            f"Course {course} has no assignment {name!r} open to students: it has not been "
            "released, or the course's staff took it back for now, so it can be neither "
            "got nor submitted. Anything you already got stays in your workspace.",
        )
    return row


def _staff_assignment(
    request: Request, user: HubUser, course: str, name: str, instructor: bool = False
) -> Any:
    """The assignment, for the course's staff (instructors only when asked); else 403/404."""
    role = _role(request, user, course, INSTRUCTORS if instructor else STAFF_ROLES)
    return _assignment(request, course, name, role)


def _iso(value: datetime | None) -> str | None:
    value = utc(value)
    return value.isoformat() if value else None


def assignment_json(row: Any, staff: bool) -> dict[str, Any]:
    data = {
        "name": row.name,
        "title": row.title,
        "format": row.format,
        "due_at": _iso(row.due_at),
        "released": row.released_at is not None,
        "closed": row.closed,
        "max_points": row.max_points,
        "folder": lifecycle.workspace_folder(row.name),
        "questions": [
            {"name": q["name"], "points": q["points"], "kind": q["kind"]}
            for q in json.loads(row.questions)
        ],
    }
    if staff:
        data["origin"] = row.origin
    return data


@router.get("/courses/{course}/assignments")
async def list_assignments(
    request: Request, course: str, user: Annotated[HubUser, Depends(api_user)]
) -> dict[str, Any]:
    role = await asyncio.to_thread(_role, request, user, course)
    rows = await asyncio.to_thread(context_of(request.app).grading.store.assignments, course)
    staff = role in STAFF_ROLES
    shown = [assignment_json(r, staff) for r in rows if staff or r.released_at is not None]
    return {"course": course, "role": role, "assignments": shown}


@router.post("/courses/{course}/assignments", status_code=201)
@body_limit(MAX_UPLOAD_BODY)
async def create_assignment(
    request: Request, course: str, user: Annotated[HubUser, Depends(api_user)], name: str = ""
) -> dict[str, Any]:
    """Create or remake an assignment from uploaded notebooks (and data files)."""
    await asyncio.to_thread(_role, request, user, course, INSTRUCTORS)
    return await create_from_uploads(request, course, name, await _uploaded(request))


async def create_from_uploads(
    request: Request, course: str, name: str, uploads: dict[str, bytes] | None
) -> dict[str, Any]:
    """Make the assignment from files the caller (checked to be an instructor) sent."""
    if not uploads:
        raise ApiError(400, "Upload the assignment's notebooks as 'files' (multipart).")

    data_dir = context_of(request.app).grading.store.paths.data_dir

    def make() -> Any:
        grading = context_of(request.app).grading
        with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
            for rel, data in uploads.items():
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            try:
                return lifecycle.create(grading.store, course, name, Path(tmp))
            except AssignmentError as exc:
                raise AssignmentError(without_paths(str(exc), Path(tmp), data_dir)) from None

    try:
        row = await asyncio.to_thread(make)
    except AssignmentError as exc:
        raise ApiError(400, sentence(str(exc))) from None
    return assignment_json(row, True)


async def _uploaded(request: Request) -> dict[str, bytes] | None:
    """The 'files' of a multipart body (None when the body is not a form). Read only
    here, after the caller was identified and allowed: FastAPI would parse a File
    parameter before any dependency ran, for anyone."""
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith("multipart/form-data"):
        return None
    try:
        async with request.form(max_files=MAX_FILES, max_fields=MAX_FILES) as form:
            files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
            return await read_uploads(files) if files else None
    except HTTPException:
        raise ApiError(400, "The body is not valid multipart/form-data.") from None


async def read_uploads(files: list[UploadFile]) -> dict[str, bytes]:
    from coursehub.courses.paths import PathRejected, check_relative_path

    if len(files) > MAX_FILES:
        raise ApiError(413, f"At most {MAX_FILES} files.")
    found: dict[str, bytes] = {}
    total = 0
    for upload in files:
        rel = (upload.filename or "").strip()
        try:
            check_relative_path(rel)
        except PathRejected as exc:
            raise ApiError(400, f"File name refused: {exc}") from None
        data = await upload.read(MAX_BYTES + 1)
        total += len(data)
        if total > MAX_BYTES:
            raise ApiError(413, f"At most {MAX_BYTES >> 20} MB in all.")
        found[rel] = data
    return found


@router.post("/courses/{course}/assignments/{name}/release")
async def release(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(api_user)]
) -> dict[str, Any]:
    row = await asyncio.to_thread(_staff_assignment, request, user, course, name, True)
    copied = await asyncio.to_thread(release_to_students, request, row)
    return {"released": True, "copied_to": copied}


def release_to_students(request: Request, row: Any) -> int:
    """Publish, then copy into the workspace of every student who has one already;
    the others get it when they open the assignment."""
    grading = context_of(request.app).grading
    lifecycle.publish(grading.store, row)
    row = grading.store.by_id(row.id)
    copied = 0
    for member in context_of(request.app).courses.members(row.course, role="student"):
        try:
            student = student_of(request, member.username)
        except WorkspaceError:
            continue  # no account yet: fetched on first open
        if not student.home.is_dir():
            continue
        try:
            lifecycle.fetch_into(
                grading.store, row, student, workspace_for(student.home, row.course)
            )
            copied += 1
        except CoursehubError:
            continue
    return copied


@router.post("/courses/{course}/assignments/{name}/fetch")
async def fetch(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(api_user)]
) -> dict[str, Any]:
    """Copy the released assignment into the caller's course workspace."""
    role = await asyncio.to_thread(_role, request, user, course)
    row = await asyncio.to_thread(_assignment, request, course, name, role)

    def copy() -> dict:
        student = student_of(request, user.name)
        store = context_of(request.app).grading.store
        return lifecycle.fetch_into(store, row, student, workspace_for(student.home, course))

    try:
        result = await asyncio.to_thread(copy)
    except (WorkspaceError, AssignmentError) as exc:
        raise ApiError(409, str(exc)) from None
    return {"folder": lifecycle.workspace_folder(name), **result}


@router.post("/courses/{course}/assignments/{name}/submit", status_code=201)
@body_limit(MAX_UPLOAD_BODY)
async def submit(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(api_user)]
) -> JSONResponse:
    """Submit the caller's work: the uploaded files (multipart, field 'files'), or else
    the assignment folder of their course workspace. `Idempotency-Key` makes retries
    safe."""
    role = await asyncio.to_thread(_role, request, user, course)
    row = await asyncio.to_thread(_assignment, request, course, name, role)
    key = request.headers.get("idempotency-key")
    uploads = await _uploaded(request)
    result = await submit_work(request, row, user.name, uploads, key)
    return JSONResponse(result, status_code=200 if result["duplicate"] else 201)


async def submit_work(
    request: Request, row: Any, username: str, uploads: dict[str, bytes] | None, key: str | None
) -> dict[str, Any]:
    grading = context_of(request.app).grading

    def store_it() -> Any:
        files = uploads
        origin = "upload"
        if files is None:
            student = student_of(request, username)
            files = lifecycle.collect(row, student, workspace_for(student.home, row.course))
            origin = "workspace"
        return grading.store.submit(row, username, files, origin=origin, client_key=key)

    try:
        stored = await asyncio.to_thread(store_it)
    except (SubmissionError, WorkspaceError) as exc:
        raise ApiError(409, str(exc)) from None
    sub = stored.submission
    if not stored.duplicate:
        await asyncio.to_thread(grading.store.enqueue, [sub.id], "submission")
        grading.wake()
    return {
        "id": sub.id,
        "attempt": sub.attempt,
        "submitted_at": _iso(sub.submitted_at),
        "late_seconds": sub.late_seconds,
        "files": json.loads(sub.files),
        "duplicate": stored.duplicate,
    }


@router.get("/courses/{course}/assignments/{name}/submissions")
async def my_submissions(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(api_user)]
) -> dict[str, Any]:
    """The caller's own attempts with their results (hidden tests never shown)."""
    role = await asyncio.to_thread(_role, request, user, course)
    row = await asyncio.to_thread(_assignment, request, course, name, role)
    return await asyncio.to_thread(submissions_of, request, row, user.name, False)


def submissions_of(request: Request, row: Any, username: str, staff: bool) -> dict[str, Any]:
    store = context_of(request.app).grading.store
    assignment_questions = json.loads(row.questions)
    attempts = []
    for sub in store.submissions(row.id, username):
        current = store.latest_grading(sub.id, finished=False)
        done = store.latest_grading(sub.id)
        manual = store.manual_grades(sub.id)
        found = gradebook.marks(done, manual, assignment_questions)
        questions = json.loads(done.questions) if done else {}
        entry: dict[str, Any] = {
            "id": sub.id,
            "attempt": sub.attempt,
            "submitted_at": _iso(sub.submitted_at),
            "late_seconds": sub.late_seconds,
            "status": current.state if current else "submitted",
            "total": found.total,
            "max": row.max_points,
            # the total is final only once no answer waits for a person
            "pending_manual": found.pending_manual,
            "to_grade": found.to_grade,
            "questions": {
                q["name"]: {
                    "points": found.points.get(q["name"]),
                    "max": q["points"],
                    "kind": q.get("kind", "auto"),
                    "state": found.states[q["name"]],
                    "passed": questions.get(q["name"], {}).get("passed"),
                    "message": questions.get(q["name"], {}).get("message", ""),
                    "comment": manual[q["name"]].comment if q["name"] in manual else "",
                }
                for q in assignment_questions
                if done is not None or q["name"] in manual
            },
            "feedback": sorted(feedback_pages(store.paths, row.course, sub.id)),
        }
        if staff and done is not None:
            entry.update(
                outcome=done.outcome, notes=json.loads(done.notes or "[]"), output=done.output
            )
        elif done is not None:
            entry["outcome"] = done.outcome
        attempts.append(entry)
    return {"assignment": row.name, "username": username, "attempts": attempts}


@router.get("/courses/{course}/assignments/{name}/feedback/{sid}/{notebook:path}")
async def feedback(
    request: Request,
    course: str,
    name: str,
    sid: int,
    notebook: str,
    user: Annotated[HubUser, Depends(api_user)],
) -> Response:
    """A graded notebook as a document, for its author or the course's staff;
    sandboxed (the student's outputs are not trusted). The feedback page frames it; a
    browser that opens it as a page of its own is sent to that page."""
    role = await asyncio.to_thread(_role, request, user, course)
    row = await asyncio.to_thread(_assignment, request, course, name, role)
    store = context_of(request.app).grading.store
    try:
        sub = await asyncio.to_thread(store.submission, sid)
    except SubmissionError:
        sub = None
    if (
        sub is None
        or sub.assignment_id != row.id
        or (role not in STAFF_ROLES and sub.username != user.name)
    ):
        raise ApiError(404, "There is no such feedback.")
    page = feedback_pages(store.paths, course, sid).get(notebook)
    if page is None:
        raise ApiError(404, "There is no such feedback.")
    if request.headers.get("sec-fetch-dest") == "document":
        prefix = context_of(request.app).settings.service_prefix
        where = f"{prefix}course/{quote(course)}/assignments/{quote(name)}/feedback/{sid}"
        return RedirectResponse(f"{where}?notebook={quote(notebook)}", status_code=303)
    return HTMLResponse(
        page.read_text(), headers={"Content-Security-Policy": VIEW_CSP, "Cache-Control": "no-store"}
    )


@router.post("/courses/{course}/assignments/{name}/autograde")
async def autograde(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(api_user)]
) -> dict[str, Any]:
    """(Re-)grade every student's latest submission, or the ids given as ?submission=."""
    row = await asyncio.to_thread(_staff_assignment, request, user, course, name)
    grading = context_of(request.app).grading
    wanted = [int(v) for v in request.query_params.getlist("submission") if v.isdigit()]

    def queue() -> list[int]:
        latest = grading.store.latest_submissions(row.id)
        ids = wanted or [s.id for s in latest]
        known = {s.id for s in grading.store.submissions(row.id)}
        ids = [i for i in ids if i in known]
        return grading.store.enqueue(ids, user.name, grading.max_queued)

    try:
        queued = await asyncio.to_thread(queue)
    except QueueFull as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": "30"}) from None
    grading.wake()
    return {"queued": len(queued)}


@router.get("/courses/{course}/assignments/{name}/gradebook")
async def gradebook_json(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(api_user)]
) -> dict[str, Any]:
    """Every student's latest attempt; `?show=needs-grading`: only those with an
    answer a person still has to grade."""
    row = await asyncio.to_thread(_staff_assignment, request, user, course, name)
    rows = await asyncio.to_thread(_gradebook_rows, request, row)
    if request.query_params.get("show") == "needs-grading":
        rows = [r for r in rows if r.needs_grading]
    return {
        "assignment": assignment_json(row, True),
        "rows": [
            {
                "username": r.username,
                "status": r.status,
                "submission": r.submission_id,
                "attempt": r.attempt,
                "submitted_at": _iso(r.submitted_at),
                "late_seconds": r.late_seconds,
                "points": r.points,
                "states": r.states,
                "to_grade": r.to_grade,
                "comments": r.comments,
                "total": r.total,
                "pending_manual": r.pending_manual,
                "notes": r.notes,
            }
            for r in rows
        ],
    }


def _gradebook_rows(request: Request, row: Any) -> list[gradebook.Row]:
    students = [
        m.username for m in context_of(request.app).courses.members(row.course, role="student")
    ]
    return gradebook.gradebook(context_of(request.app).grading.store, row, students)


@router.get("/courses/{course}/assignments/{name}/gradebook.csv")
async def gradebook_csv(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(api_user)]
) -> Response:
    row = await asyncio.to_thread(_staff_assignment, request, user, course, name)
    rows = await asyncio.to_thread(_gradebook_rows, request, row)
    filename = f"{course}-{name}-grades.csv"
    return Response(
        gradebook.to_csv(row, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/courses/{course}/assignments/{name}/students/{username}")
async def student_detail(
    request: Request,
    course: str,
    name: str,
    username: str,
    user: Annotated[HubUser, Depends(api_user)],
) -> dict[str, Any]:
    row = await asyncio.to_thread(_staff_assignment, request, user, course, name)
    return await asyncio.to_thread(submissions_of, request, row, username, True)


@router.post("/courses/{course}/assignments/{name}/manual")
async def manual_grade(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(api_user)]
) -> dict[str, Any]:
    """Body: {"submission": id, "question": name, "points": number or null, "comment": ""}."""
    row = await asyncio.to_thread(_staff_assignment, request, user, course, name)
    try:
        body = await request.json()
        sid, question = int(body["submission"]), str(body["question"])
        points = body.get("points")
        points = None if points is None else float(points)
        comment = str(body.get("comment", ""))[:MAX_COMMENT]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "Send JSON: submission, question, points (or null), comment.") from None
    questions = {q["name"]: q for q in json.loads(row.questions)}
    if question not in questions:
        raise ApiError(400, f"{name} has no question {question!r}.")
    if points is not None and not 0 <= points <= float(questions[question]["points"]):
        raise ApiError(400, f"Points must be between 0 and {questions[question]['points']:g}.")
    store = context_of(request.app).grading.store
    sub = await asyncio.to_thread(store.submission, sid)
    if sub.assignment_id != row.id:
        raise ApiError(404, "There is no such submission in this assignment.")
    await asyncio.to_thread(store.set_manual, sid, question, points, comment, user.name)
    await context_of(request.app).grading.manual_changed(sid)
    return {"saved": True}


@router.post("/courses/{course}/assignments/{name}/extensions")
async def extension(
    request: Request, course: str, name: str, user: Annotated[HubUser, Depends(api_user)]
) -> dict[str, Any]:
    """Body: {"username": ..., "due_at": ...}: ISO 8601 with an offset or Z
    (2026-12-21T10:00-08:00), or with a zone name (2026-12-21 10:00 America/Los_Angeles);
    a plain local time only with "time_zone": an IANA name. Answers the stored moment
    in UTC, and a warning when it is earlier than the assignment's due date."""
    row = await asyncio.to_thread(_staff_assignment, request, user, course, name, True)
    try:
        body = await request.json()
        username = str(body["username"])
        text, zone_text = str(body["due_at"]), str(body.get("time_zone") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ApiError(400, f"Send JSON: username, due_at ({EXAMPLE}).") from None
    zone = zone_named(zone_text) if zone_text else None
    if zone_text and zone is None:
        raise ApiError(400, f"time_zone {zone_text[:40]!r} is not a zone name (Europe/Paris).")
    try:
        due = parse_time(text, default_zone=zone)
    except TimeTextError as exc:
        raise ApiError(400, f"due_at: {exc}") from None
    await asyncio.to_thread(check_student, request, row.course, username)
    store = context_of(request.app).grading.store
    await asyncio.to_thread(store.grant_extension, row.id, username, due, user.name)
    answer: dict[str, Any] = {"username": username, "due_at": _iso(due.astimezone(UTC))}
    if row.due_at is not None and due < row.due_at:
        answer["warning"] = "earlier than the assignment's due date"
    return answer


def check_student(request: Request, course: str, username: str) -> None:
    """400 unless `username` is a student of `course` (extensions are for students)."""
    members = context_of(request.app).courses.members(course, role="student")
    if username not in {m.username for m in members}:
        raise ApiError(400, f"{username[:64]!r} is not a student of this course.")
