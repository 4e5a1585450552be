"""The remote grading API for LMS plugins, under <prefix>api/grading/:

- POST   /grading/{course}/{activity}             an otter master notebook: (re)make the
                                                   assignment; the student notebook back
- DELETE /grading/{course}/{activity}             remove it with all its submissions
- POST   /grading/{course}/{activity}/{student}   a .ipynb: store, grade, the result back
- GET    /grading/{course}/{activity}/{student}   the latest result

Only when grading.remote_api.enabled (else 404), and only with `Authorization: Bearer
<JWT>` (grading.remote_auth); hub tokens and cookies are never looked at here.

Namespacing: the LMS's courses are not hub courses. Remote assignments are stored under
the course key `lms+<course>`; hub course names cannot hold '+', so an LMS token never
reaches, overwrites or deletes an assignment made in the hub, nor its students' work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import stat
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import nbformat
from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import Message

from coursehub.config.models import RemoteGradingConfig
from coursehub.core.numbers import whole_number
from coursehub.courses.paths import PathRejected, check_relative_path
from coursehub.grading import lifecycle, otter_format
from coursehub.grading.autograde import otter_tests
from coursehub.grading.errors import AssignmentError, QueueFull, SubmissionError
from coursehub.grading.paths import check_name
from coursehub.grading.remote_auth import (
    RemoteAuthConfigError,
    RemoteAuthError,
    RemoteAuthSettings,
    load_settings,
    verify_bearer,
)
from coursehub.grading.store import MAX_BYTES, MAX_FILES
from coursehub.service.body_limits import body_limit
from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.tasks.grading import GradingService

log = logging.getLogger("coursehub.service")

COURSE_PREFIX = "lms+"
MAX_COURSE = 40 - len(COURSE_PREFIX)  # the assignments table keeps 40 characters
MAX_BODY = MAX_BYTES + 1024 * 1024  # the files plus multipart framing
RETRY_AFTER = "30"
_STOPPED_CELL = re.compile(r"^cell (\d+): stopped after (\d+) s$", re.MULTILINE)


def remote_section(app: Any) -> RemoteGradingConfig:
    return context_of(app).settings.grading.remote_api


def settings_from(section: RemoteGradingConfig | dict[str, Any]) -> RemoteAuthSettings:
    """RemoteAuthSettings from coursehub.yaml's grading.remote_api; a shared secret
    file others may read is refused like a short secret."""
    if isinstance(section, dict):
        section = RemoteGradingConfig.model_validate(section)
    secret, public = section.secret_file, section.public_key_file
    try:
        if secret is not None and secret.exists():
            mode = secret.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise RemoteAuthConfigError(
                    f"{secret} can be read by other accounts (mode {stat.filemode(mode)}); "
                    f"run `chmod 600 {secret}`"
                )
        return load_settings(section.audience, section.issuer or "", secret, public)
    except RemoteAuthConfigError as exc:
        raise RemoteAuthConfigError(f"grading.remote_api: {exc}") from None


@asynccontextmanager
async def _check_settings_at_start(app: FastAPI) -> AsyncIterator[None]:
    """A bad secret or key stops the service at start-up, not at the first request."""
    if remote_section(app).enabled:
        try:
            _ = context_of(app).remote_auth  # read and checked now
        except RemoteAuthConfigError as exc:
            log.critical("the remote grading API cannot start: %s", exc)
            raise
    yield


router = APIRouter(lifespan=_check_settings_at_start)


async def remote_caller(request: Request) -> dict[str, Any]:
    """Dependency: the verified JWT claims, or 404 (API off) / 401 (token refused)."""
    if not remote_section(request.app).enabled:
        raise ApiError(404, "There is nothing at this address.")
    settings = context_of(request.app).remote_auth
    try:
        claims = verify_bearer(request.headers.get("authorization"), settings)
    except RemoteAuthError as exc:
        challenge = 'Bearer realm="coursehub-grading"'
        if exc.code != "missing_token":
            challenge += ', error="invalid_token"'
        raise ApiError(401, str(exc), exc.code, {"WWW-Authenticate": challenge}) from None
    request.state.user_name = "remote-api"
    return claims


Caller = Annotated[dict[str, Any], Depends(remote_caller)]


def course_key(course: str) -> str:
    """Where an LMS course's assignments are kept; never a hub course's name."""
    _check(course, "course")
    if len(course) > MAX_COURSE:
        raise ApiError(400, f"The course name is too long: use at most {MAX_COURSE} characters.")
    return COURSE_PREFIX + course


def _check(name: str, what: str) -> str:
    try:
        return check_name(name, what)
    except AssignmentError as exc:
        raise ApiError(400, str(exc)) from None


def _requester(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if isinstance(sub, str) and sub.isprintable():
        return f"remote:{sub}"[:64]
    return "remote"


def _lock(app: Any, key: str, activity: str) -> asyncio.Lock:
    """One change at a time per assignment (otter assign rebuilds its folder)."""
    return context_of(app).remote_locks.setdefault((key, activity), asyncio.Lock())


# ---- request bodies ----------------------------------------------------------


@asynccontextmanager
async def _form(request: Request) -> AsyncIterator[FormData]:
    """The multipart body, refused with 413 past MAX_BODY bytes before it is all read."""
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith("multipart/form-data"):
        raise ApiError(400, "Send multipart/form-data, e.g. curl -F notebook=@hw1.ipynb.")
    length = request.headers.get("content-length", "")
    too_large = ApiError(413, f"At most {MAX_BYTES >> 20} MB in all.")
    if (whole_number(length) or 0) > MAX_BODY:
        raise too_large
    seen = 0

    async def receive() -> Message:
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > MAX_BODY:
            raise too_large
        return message

    limited = Request(request.scope, receive)
    try:
        form = await limited.form(max_files=MAX_FILES, max_fields=MAX_FILES)
    except HTTPException:
        raise ApiError(400, "The body is not valid multipart/form-data.") from None
    try:
        yield form
    finally:
        await form.close()


async def _uploads(form: FormData) -> list[tuple[str, str, bytes]]:
    """(field, file name, content) of every file in the form; names are checked."""
    found = []
    for field, value in form.multi_items():
        if not isinstance(value, UploadFile):
            if field == "notebook":
                raise ApiError(400, "Send the notebook as a file: curl -F notebook=@hw1.ipynb.")
            continue
        name = (value.filename or "").strip()
        try:
            check_relative_path(name)
        except PathRejected as exc:
            raise ApiError(400, f"File name refused: {exc}") from None
        found.append((field, name, await value.read()))
    if sum(len(data) for _, _, data in found) > MAX_BYTES:
        raise ApiError(413, f"At most {MAX_BYTES >> 20} MB in all.")
    return found


def _the_notebook(uploads: list[tuple[str, str, bytes]]) -> tuple[str, bytes]:
    """The upload in field `notebook`, or else the one .ipynb file sent: (name, content)."""
    named = [u for u in uploads if u[0] == "notebook"]
    candidates = named or [u for u in uploads if u[1].endswith(".ipynb")]
    if len(candidates) != 1:
        got = "none" if not candidates else f"{len(candidates)}"
        raise ApiError(
            400, f"Send exactly one notebook in the field 'notebook' (got {got}): "
            "curl -F notebook=@hw1.ipynb."
        )  # fmt: skip
    return candidates[0][1], candidates[0][2]


def _read_notebook(data: bytes) -> nbformat.NotebookNode:
    try:
        return nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable upload is the caller's to fix
        why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ApiError(400, f"The upload is not a readable notebook (.ipynb JSON): {why}") from None


# ---- assignments -------------------------------------------------------------


@router.post("/grading/{course}/{activity}")
@body_limit(MAX_BODY)
async def create_assignment(
    request: Request, course: str, activity: str, claims: Caller
) -> JSONResponse:
    """Make or remake an otter assignment from its master notebook (field `notebook`)
    and data files (any other file fields); the student notebook and points back."""
    key, activity = course_key(course), _check(activity, "activity")
    async with _form(request) as form:
        uploads = await _uploads(form)
    sent_as, master = _the_notebook(uploads)
    name = Path(sent_as).name  # otter assign takes the master from the top folder
    if not name.endswith(".ipynb"):
        raise ApiError(400, f"The notebook's file name must end in .ipynb, not {name[:80]!r}.")
    nb = await asyncio.to_thread(_read_notebook, master)
    if not otter_format.looks_like([nb]):
        raise ApiError(
            400,
            "This is not an otter-grader master notebook: mark questions with raw cells "
            "'# BEGIN QUESTION' and tests with '# BEGIN TESTS' (otter assign format).",
        )
    files = {rel: data for _, rel, data in uploads if rel not in (sent_as, name)}
    files[name] = master
    grading = context_of(request.app).grading

    def make() -> tuple[Any, bool]:
        store = grading.store
        existed = _find(grading, key, activity) is not None
        with tempfile.TemporaryDirectory(dir=store.paths.data_dir) as tmp:
            for rel, data in files.items():
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            row = lifecycle.create(
                store, key, activity, Path(tmp), fmt="otter", title=activity, origin="remote"
            )
        return row, existed

    async with _lock(request.app, key, activity):
        try:
            row, existed = await asyncio.to_thread(make)
        except AssignmentError as exc:
            raise ApiError(400, str(exc)) from None
    body = await asyncio.to_thread(_assignment_json, grading, row, course)
    return JSONResponse(body, status_code=200 if existed else 201)


def _assignment_json(grading: GradingService, row: Any, course: str) -> dict[str, Any]:
    questions = json.loads(row.questions)
    notebook = questions[0]["notebook"]
    version = grading.store.paths.student_version(row.course, row.name, "otter")
    return {
        "course": course,
        "activity": row.name,
        "notebook_name": notebook,
        "notebook": json.loads((version / notebook).read_text()),
        "files": json.loads(row.files),
        "questions": {q["name"]: {"max": float(q["points"])} for q in questions},
        "max": row.max_points,
    }


def _find(grading: GradingService, key: str, activity: str) -> Any | None:
    try:
        row = grading.store.get(key, activity)
    except AssignmentError:
        return None
    return row if row.origin == "remote" else None


async def _assignment(grading: GradingService, key: str, course: str, activity: str) -> Any:
    row = await asyncio.to_thread(_find, grading, key, activity)
    if row is None:
        raise ApiError(
            404,
            f"Course {course} has no activity {activity!r} here: create it first with "
            f"POST .../grading/{course}/{activity} and its otter master notebook.",
        )
    return row


@router.delete("/grading/{course}/{activity}", status_code=204)
async def delete_assignment(
    request: Request, course: str, activity: str, claims: Caller
) -> Response:
    """Remove the assignment, its submissions, results and files."""
    key, activity = course_key(course), _check(activity, "activity")
    grading = context_of(request.app).grading
    async with _lock(request.app, key, activity):
        await _assignment(grading, key, course, activity)
        await asyncio.to_thread(lifecycle.remove, grading.store, key, activity)
    return Response(status_code=204)


# ---- submissions -------------------------------------------------------------


def _wait_seconds(request: Request) -> float:
    """grading.remote_api.wait, or less when the caller asks (?wait=SECONDS)."""
    # wait: 0 means the default, as it always has (never "answer at once")
    longest = float(remote_section(request.app).wait or RemoteGradingConfig().wait)
    asked = request.query_params.get("wait")
    if asked is None:
        return longest
    try:
        value = float(asked)
        if not 0 <= value < float("inf"):
            raise ValueError
    except ValueError:
        raise ApiError(400, "wait must be a number of seconds, 0 or more.") from None
    return min(value, longest)


@router.post("/grading/{course}/{activity}/{student}")
@body_limit(MAX_BODY)
async def grade(
    request: Request, course: str, activity: str, student: str, claims: Caller
) -> JSONResponse:
    """Store the student's notebook (immutable; `Idempotency-Key` makes retries safe),
    grade it in the sandbox, and answer with the result (408 if it takes too long)."""
    key, activity = course_key(course), _check(activity, "activity")
    student = _check(student, "student")
    grading = context_of(request.app).grading
    if grading.workers is None:
        raise ApiError(503, "Grading is not available: the coursehub service is not root.")
    wait = _wait_seconds(request)
    client_key = request.headers.get("idempotency-key")
    if client_key is not None and (
        not client_key or len(client_key) > 64 or not client_key.isprintable()
    ):
        raise ApiError(400, "The Idempotency-Key must be 1 to 64 printable characters.")
    row = await _assignment(grading, key, course, activity)
    async with _form(request) as form:
        uploads = await _uploads(form)
    _name, data = _the_notebook(uploads)
    await asyncio.to_thread(_read_notebook, data)
    notebook = json.loads(row.questions)[0]["notebook"]
    if await asyncio.to_thread(grading.store.waiting_count) >= grading.max_queued:
        raise _queue_full(f"at most {grading.max_queued} gradings may wait")

    def store_and_queue() -> tuple[Any, int]:
        store = grading.store
        # stored under the assignment's notebook name, whatever the upload was called
        stored = store.submit(row, student, {notebook: data}, "remote", client_key)
        sub = stored.submission
        current = store.latest_grading(sub.id, finished=False) if stored.duplicate else None
        if current is not None:
            return sub, current.id
        [gid] = store.enqueue([sub.id], _requester(claims), grading.max_queued)
        return sub, gid

    try:
        sub, gid = await asyncio.to_thread(store_and_queue)
    except QueueFull as exc:
        raise _queue_full(str(exc)) from None
    except SubmissionError as exc:
        raise ApiError(409, str(exc)) from None
    grading.wake()
    try:
        finished = await grading.workers.wait_for(gid, wait)
        result = await asyncio.to_thread(grading.store.grading, gid)
    except SubmissionError:
        raise ApiError(404, f"{activity} was deleted while this submission waited.") from None
    if not finished:
        return _still_grading(request, sub, result.state)
    body = await asyncio.to_thread(_result_json, grading, row, sub, result)
    if result.state == "failed":
        message = f"The grader failed on this submission: {result.outcome}"
        return _error(500, "grading_failed", message, body)
    if body["time_limits"]:
        message = "The grading hit the sandbox's time limits: " + "; ".join(body["time_limits"])
        return _error(408, "grading_time_limit", message, body)
    return JSONResponse(body)


def _queue_full(why: str) -> ApiError:
    return ApiError(
        503,
        f"The grading queue is full ({why}); nothing was stored. Try again later.",
        "queue_full",
        {"Retry-After": RETRY_AFTER},
    )


def _error(status: int, code: str, message: str, result: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}, "result": result}, status)


def _still_grading(request: Request, sub: Any, state: str) -> JSONResponse:
    where = request.url.path
    message = (
        f"The grading is still {state} and will be kept: GET {where} for the result "
        "(202 while it waits or runs, 200 when done)."
    )
    body = {
        "error": {"code": "grading_not_finished", "message": message},
        "status": state,
        "submission": sub.id,
        "attempt": sub.attempt,
        "result_url": where,
    }
    return JSONResponse(body, status_code=408)


@router.get("/grading/{course}/{activity}/{student}")
async def latest_result(
    request: Request, course: str, activity: str, student: str, claims: Caller
) -> JSONResponse:
    """The result of the student's latest submission (202 while it is graded)."""
    key, activity = course_key(course), _check(activity, "activity")
    student = _check(student, "student")
    grading = context_of(request.app).grading
    row = await _assignment(grading, key, course, activity)

    def latest() -> tuple[Any, Any]:
        attempts = grading.store.submissions(row.id, student)
        if not attempts:
            return None, None
        return attempts[-1], grading.store.latest_grading(attempts[-1].id, finished=False)

    sub, result = await asyncio.to_thread(latest)
    if sub is None:
        raise ApiError(404, f"{student} has submitted nothing for {activity}.")
    if result is None or result.state in ("queued", "running"):
        state = result.state if result is not None else "submitted"
        body = {"status": state, "submission": sub.id, "attempt": sub.attempt}
        return JSONResponse(body | {"result_url": request.url.path}, status_code=202)
    return JSONResponse(await asyncio.to_thread(_result_json, grading, row, sub, result))


# ---- results -----------------------------------------------------------------


def _result_json(grading: GradingService, row: Any, sub: Any, result: Any) -> dict[str, Any]:
    questions = json.loads(result.questions or "{}")
    shown = {
        name: {
            "points": info.get("points"),
            "max": info.get("max"),
            "passed": info.get("passed"),
            "message": info.get("message", ""),
        }
        for name, info in questions.items()
    }
    lines = [
        f"{name}: {_num(info['points'])} / {_num(info['max'])}\n{info['message']}".rstrip()
        for name, info in shown.items()
    ]
    if result.output:
        lines.append(result.output)
    submitted = sub.submitted_at
    return {
        "course": row.course.removeprefix(COURSE_PREFIX),
        "activity": row.name,
        "student": sub.username,
        "submission": sub.id,
        "attempt": sub.attempt,
        "submitted_at": submitted.isoformat() if submitted else None,
        "status": result.state,
        "total": result.total,
        "max": row.max_points,
        "questions": shown,
        "output": "\n\n".join(lines),
        "outcome": result.outcome,
        "notes": json.loads(result.notes or "[]"),
        "time_limits": _time_limits(grading, row, sub, result),
    }


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "-"


def _time_limits(grading: GradingService, row: Any, sub: Any, result: Any) -> list[str]:
    """What the sandbox's time limits stopped, in words: which cell, which limit."""
    stopped = [(int(m[1]), int(m[2])) for m in _STOPPED_CELL.finditer(result.output or "")]
    wall = "wall-time limit" in (result.outcome or "")
    if not stopped and not wall:
        return []
    limits = grading.workers.limits if grading.workers is not None else None
    cell_limit = f" (the limit is {limits.cell_seconds:g} s per cell)" if limits else ""
    found = [f"{_step(grading, row, sub, i)}: stopped after {s} s{cell_limit}" for i, s in stopped]
    if wall:
        whole = f" of {limits.sandbox.wall_seconds:g} s" if limits else ""
        found.append(f"the whole run reached its wall-time limit{whole}; what followed did not run")
    return found


def _step(grading: GradingService, row: Any, sub: Any, index: int) -> str:
    """The step `index` of an otter run: the notebook's code cells in order, then the
    tests of each question (see otter_format.plan)."""
    paths = grading.store.paths
    notebook = json.loads(row.questions)[0]["notebook"]
    try:
        nb = nbformat.read(grading.store.submission_files(sub) / notebook, as_version=4)
        tests = list(otter_tests(paths, row.course, row.name))
    except (OSError, ValueError, AssignmentError):
        return f"step {index + 1}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    if index < len(code):
        first = next((line for line in code[index].source.splitlines() if line.strip()), "")
        return f"code cell {index + 1} of {len(code)} ({first.strip()[:60]!r})"
    if index - len(code) < len(tests):
        return f"the tests of {tests[index - len(code)]}"
    return f"step {index + 1}"
