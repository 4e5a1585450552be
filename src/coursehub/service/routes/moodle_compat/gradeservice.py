"""The gradeservice's otter REST API as moodle-mod_jupyter calls it (classes/gradeservice.php),
under <prefix>compat/moodle-jupyter/gradeservice/:

- POST   {course}/{activity}            field `file`: an otter master notebook. Answer 201
                                        `{<file name>: base64 student notebook, "total":
                                        max, "points": {"1": max of question 1, ...}}`
- POST   {course}/{activity}/{student}  field `file`: the student's notebook. Answer
                                        `{"total", "points": {"1": ...}, "output": {"1": ...}}`
- DELETE {course}/{activity}            204

`Authorization` holds the plugin's JWT, bare. Making or deleting an activity needs a
token naming an instructor of the linked coursehub course; grading needs the token of
the student graded. Questions are numbered from 1 in the notebook's order, as the
gradeservice did (the plugin stores them as integers).
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from coursehub.config.models import RemoteGradingConfig
from coursehub.grading import lifecycle, otter_format
from coursehub.grading.errors import AssignmentError, QueueFull, SubmissionError
from coursehub.service.body_limits import body_limit
from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.routes.moodle_compat.mapping import (
    ASSIGNMENT_PREFIX,
    checked_user,
    course_of,
    plugin_user,
    require_plugin_account,
)
from coursehub.service.routes.remote_grading.api import (
    MAX_BODY,
    _form,
    _read_notebook,
    _the_notebook,
    _uploads,
)

router = APIRouter()
DEFAULT_WAIT = RemoteGradingConfig().wait
Caller = Annotated[str, Depends(plugin_user)]
STAFF = ("instructor", "admin")


def _ids(course: str, activity: str) -> str:
    if not (course.isdigit() and activity.isdigit() and len(course) <= 10 and len(activity) <= 10):
        raise ApiError(400, "Moodle course and activity ids are numbers, e.g. /7/12.")
    return ASSIGNMENT_PREFIX + course


def _require_staff(request: Request, user: str, moodle_course: str) -> None:
    course = course_of(request, moodle_course)
    require_plugin_account(request, user)
    if context_of(request.app).courses.role_of(course, user) not in STAFF:
        raise ApiError(
            403,
            f"Only an instructor of {course!r} may make or delete its graded activities; "
            f"{user!r} is not one (open the activity once as its teacher).",
        )


@router.post("/gradeservice/{course}/{activity}")
@body_limit(MAX_BODY)
async def create_assignment(
    request: Request, course: str, activity: str, user: Caller
) -> JSONResponse:
    key = _ids(course, activity)
    _require_staff(request, user, course)
    async with _form(request) as form:
        uploads = await _uploads(form)
    sent_as, master = _the_notebook(uploads)
    name = Path(sent_as).name
    if not name.endswith(".ipynb"):
        raise ApiError(400, f"The file {name[:80]!r} is not a .ipynb file.")
    nb = await asyncio.to_thread(_read_notebook, master)
    if not otter_format.looks_like([nb]):
        raise ApiError(400, "Failed to create assignment: Your file does not match the "
                            "Otter-Grader assignment syntax.")  # fmt: skip
    grading = context_of(request.app).grading

    def make() -> Any:
        with tempfile.TemporaryDirectory(dir=grading.store.paths.data_dir) as tmp:
            (Path(tmp) / name).write_bytes(master)
            return lifecycle.create(
                grading.store, key, activity, Path(tmp), fmt="otter", title=name,
                origin="moodle",
            )  # fmt: skip

    lock = context_of(request.app).remote_locks.setdefault((key, activity), asyncio.Lock())
    async with lock:
        try:
            row = await asyncio.to_thread(make)
        except AssignmentError as exc:
            raise ApiError(400, f"Failed to create assignment: {exc}") from None
    questions = json.loads(row.questions)
    student_nb = grading.store.paths.student_version(row.course, row.name, "otter")
    data = await asyncio.to_thread((student_nb / questions[0]["notebook"]).read_bytes)
    points = {str(i): float(q["points"]) for i, q in enumerate(questions, 1)}
    body = {name: base64.b64encode(data).decode(), "total": row.max_points, "points": points}
    return JSONResponse(body, status_code=201)


def _find(request: Request, key: str, activity: str) -> Any:
    try:
        row = context_of(request.app).grading.store.get(key, activity)
    except AssignmentError:
        row = None
    if row is None or row.origin != "moodle":
        raise ApiError(400, f"Activity {key.removeprefix(ASSIGNMENT_PREFIX)}/{activity} "
                            "doesn't exist.")  # fmt: skip
    return row


@router.delete("/gradeservice/{course}/{activity}", status_code=204)
async def delete_assignment(request: Request, course: str, activity: str, user: Caller) -> Response:
    key = _ids(course, activity)
    _require_staff(request, user, course)
    grading = context_of(request.app).grading
    lock = context_of(request.app).remote_locks.setdefault((key, activity), asyncio.Lock())
    async with lock:
        await asyncio.to_thread(_find, request, key, activity)
        await asyncio.to_thread(lifecycle.remove, grading.store, key, activity)
    return Response(status_code=204)


@router.post("/gradeservice/{course}/{activity}/{student}")
@body_limit(MAX_BODY)
async def grade(
    request: Request, course: str, activity: str, student: str, user: Caller
) -> JSONResponse:
    key = _ids(course, activity)
    student = checked_user(student)
    if user != student:
        raise ApiError(403, f"This token is {user!r}'s; it cannot submit for {student!r}.")
    linked = course_of(request, course)
    await asyncio.to_thread(require_plugin_account, request, student)
    role = await asyncio.to_thread(context_of(request.app).courses.role_of, linked, student)
    if role is None:
        raise ApiError(
            403, f"{student!r} is not in {linked!r}: open the activity once from Moodle first."
        )
    grading = context_of(request.app).grading
    if grading.workers is None:
        raise ApiError(503, "Grading is not available: the coursehub service is not root.")
    row = await asyncio.to_thread(_find, request, key, activity)
    async with _form(request) as form:
        uploads = await _uploads(form)
    _name, data = _the_notebook(uploads)
    await asyncio.to_thread(_read_notebook, data)
    notebook = json.loads(row.questions)[0]["notebook"]

    def store_and_queue() -> int:
        stored = grading.store.submit(row, student, {notebook: data}, "moodle", None)
        [gid] = grading.store.enqueue(
            [stored.submission.id], f"moodle:{user}"[:64], grading.max_queued
        )
        return gid

    try:
        gid = await asyncio.to_thread(store_and_queue)
    except QueueFull as exc:
        raise ApiError(503, f"The grading queue is full ({exc}); try again later.") from None
    except SubmissionError as exc:
        raise ApiError(409, str(exc)) from None
    grading.wake()
    # grading.remote_api.wait, as for the remote API (0 there means its default)
    wait = float(context_of(request.app).settings.grading.remote_api.wait or DEFAULT_WAIT)
    finished = await grading.workers.wait_for(gid, wait)
    if not finished:
        raise ApiError(408, "Notebook grading timed out; it goes on, submit again later.")
    result = await asyncio.to_thread(grading.store.grading, gid)
    if result.state == "failed":
        raise ApiError(400, f"Failed to grade assignment: {result.outcome}")
    return JSONResponse(_numbered(row, result))


def _numbered(row: Any, result: Any) -> dict[str, Any]:
    """The result the way the gradeservice answered: questions numbered from 1."""
    got = json.loads(result.questions or "{}")
    points: dict[str, float] = {}
    output: dict[str, str] = {}
    for i, question in enumerate(json.loads(row.questions), 1):
        info = got.get(question["name"], {})
        points[str(i)] = float(info.get("points") or 0)
        output[str(i)] = str(info.get("message") or "")
    return {"total": float(result.total or 0), "points": points, "output": output}
