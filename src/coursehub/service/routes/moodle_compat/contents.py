"""The Jupyter contents calls of moodle-mod_jupyter (load_notebook, reset_notebook,
get_notebook in classes/jupyterhub.php), under
<prefix>compat/moodle-jupyter/user/{user}/api/contents/{moodle course}/{activity}/{file}:

- GET   ?content=0                 200 a model, or 404: is the notebook placed?
- GET   ?content=1&format=base64   200 `{"content": base64, ...}`: the notebook to grade
- PUT   {"type": "directory"}      201 (folders are made with the file)
- PUT   {"type": "file", "format": "base64", "content": ...}   201
- PATCH {"path": new path}         200: renamed (a reset keeps the student's version)

The file lives in the student's workspace of the linked course, at
`moodle/<activity>/<file>`, and is written and read as the student's own account. Before
the student's first course server start there is no such account: the file waits
(pending.py) and their first open of the link moves it in. No server is started here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from coursehub.core.numbers import whole_number
from coursehub.courses.servers import workspace_for
from coursehub.courses.workspace import Student, WorkspaceError, hash_files, read_notebook
from coursehub.courses.workspace_files import (
    MAX_WRITE_BYTES,
    FileExists,
    FileMissing,
    rename_file,
    write_file,
)
from coursehub.service.body_limits import body_limit
from coursehub.service.context import context_of
from coursehub.service.course_access import student_of
from coursehub.service.errors import ApiError
from coursehub.service.routes.moodle_compat import pending
from coursehub.service.routes.moodle_compat.hub_api import ensure_enrolled
from coursehub.service.routes.moodle_compat.mapping import (
    checked_user,
    course_of,
    plugin_server,
    require_plugin_account,
    split_contents_path,
)

router = APIRouter()
Plugin = Annotated[None, Depends(plugin_server)]
MAX_JSON = MAX_WRITE_BYTES * 4 // 3 + 64 * 1024  # base64 of the largest file, plus framing
PATH = "/user/{user}/api/contents/{path:path}"


@dataclass(frozen=True)
class Target:
    user: str
    course: str
    inside: str  # the path in the course workspace
    shown: str  # the plugin's path
    student: Student | None  # None: no account yet, the file waits
    workspace: Path | None
    data_dir: Path

    @property
    def waiting(self) -> Path:
        return pending.pending_file(self.data_dir, self.user, self.course, self.inside)


async def _target(request: Request, user: str, path: str) -> Target:
    name = checked_user(user)
    await asyncio.to_thread(require_plugin_account, request, name)
    moodle_course, inside = split_contents_path(path)
    course = course_of(request, moodle_course)
    await ensure_enrolled(request, name, course)
    try:
        student: Student | None = student_of(request, name)
    except WorkspaceError:
        student = None  # not started yet
    workspace = workspace_for(student.home, course) if student is not None else None
    data_dir = Path(context_of(request.app).settings.data_dir)
    return Target(name, course, inside, path.strip("/"), student, workspace, data_dir)


def _model(path: str, content: str | None = None) -> dict[str, Any]:
    name = path.rsplit("/", 1)[-1]
    model: dict[str, Any] = {"name": name, "path": path, "type": "file", "writable": True}
    model |= {"format": "base64" if content is not None else None, "content": content}
    return model


def _read(t: Target) -> bytes | None:
    if t.student is not None and t.workspace is not None:
        try:
            return read_notebook(t.student, t.workspace, t.inside)
        except WorkspaceError:
            pass
    return t.waiting.read_bytes() if t.waiting.is_file() else None


def _exists(t: Target) -> bool:
    if t.student is not None and t.workspace is not None:
        found = hash_files(t.student, t.workspace, [t.inside]).get(t.inside)
        if found is not None:
            return True
    return t.waiting.is_file()


@router.get(PATH)
async def get_file(request: Request, user: str, path: str, _: Plugin) -> JSONResponse:
    t = await _target(request, user, path)
    if request.query_params.get("content", "1") == "0":
        if not await asyncio.to_thread(_exists, t):
            raise ApiError(404, f"No file {t.shown!r}.")
        return JSONResponse(_model(t.shown))
    data = await asyncio.to_thread(_read, t)
    if data is None:
        raise ApiError(404, f"No file {t.shown!r}.")
    return JSONResponse(_model(t.shown, base64.b64encode(data).decode()))


async def _json(request: Request) -> dict[str, Any]:
    too_big = ApiError(413, f"Files are at most {MAX_WRITE_BYTES >> 20} MB.")
    length = request.headers.get("content-length", "")
    if (whole_number(length) or 0) > MAX_JSON:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON:
            raise too_big
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = None
    if not isinstance(value, dict):
        raise ApiError(400, "Send a JSON object, as the Jupyter contents API expects.")
    return value


def _write(t: Target, data: bytes) -> None:
    if t.student is not None and t.workspace is not None:
        write_file(t.student, t.workspace, t.inside, data)
        t.waiting.unlink(missing_ok=True)
    else:
        pending.put(t.data_dir, t.user, t.course, t.inside, data)


@router.put(PATH)
@body_limit(MAX_JSON)
async def put_file(request: Request, user: str, path: str, _: Plugin) -> JSONResponse:
    model = await _json(request)
    t = await _target(request, user, path)
    if model.get("type") == "directory":
        return JSONResponse({**_model(t.shown), "type": "directory"}, status_code=201)
    if model.get("type") != "file" or model.get("format") != "base64":
        raise ApiError(400, "Send {'type': 'file', 'format': 'base64', 'content': ...}.")
    content = model.get("content")
    try:
        data = base64.b64decode(content if isinstance(content, str) else "", validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "The content is not base64.") from None
    if len(data) > MAX_WRITE_BYTES:
        raise ApiError(413, f"Files are at most {MAX_WRITE_BYTES >> 20} MB.")
    try:
        await asyncio.to_thread(_write, t, data)
    except WorkspaceError as exc:
        raise ApiError(400, f"{t.shown!r} cannot be written: {exc}.") from None
    return JSONResponse(_model(t.shown), status_code=201)


def _rename(t: Target, new: Target) -> None:
    if t.student is not None and t.workspace is not None:
        try:
            rename_file(t.student, t.workspace, t.inside, new.inside)
            return
        except FileMissing:
            pass  # it may still be waiting
    if not t.waiting.is_file():
        raise FileMissing("there is no such file")
    if new.waiting.exists():
        raise FileExists("a file with the new name is already there")
    new.waiting.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    t.waiting.rename(new.waiting)


@router.patch(PATH)
async def rename(request: Request, user: str, path: str, _: Plugin) -> JSONResponse:
    model = await _json(request)
    new_path = model.get("path")
    if not isinstance(new_path, str):
        raise ApiError(400, "Send {'path': <new path>}.")
    t = await _target(request, user, path)
    new = await _target(request, user, new_path)
    if new.course != t.course:
        raise ApiError(400, "A file stays in its course's folder.")
    try:
        await asyncio.to_thread(_rename, t, new)
    except FileMissing:
        raise ApiError(404, f"No file {t.shown!r}.") from None
    except FileExists:
        raise ApiError(409, f"{new_path!r} exists already.") from None
    except WorkspaceError as exc:
        raise ApiError(400, str(exc)) from None
    return JSONResponse(_model(new.shown))
