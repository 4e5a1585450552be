"""The Jupyter contents calls of moodle-mod_jupyter (load_notebook, reset_notebook,
get_notebook in classes/jupyterhub.php), under
<prefix>compat/moodle-jupyter/user/{user}/api/contents/{moodle course}/{activity}/{file}:

- GET   ?content=0                 200 a model, or 404: is the notebook placed?
- GET   ?content=1&format=base64   200 `{"content": base64, ...}`: the notebook to grade
- PUT   {"type": "directory"}      201 (folders are made with the file)
- PUT   {"type": "file", "format": "base64", "content": ...}   201: written as the student
- PATCH {"path": new path}         200: renamed as the student (a reset keeps the old one)

The file lives in the student's workspace of the linked course, at
`moodle/<activity>/<file>`; the student's course server is started first (never a
default server), and every write runs as the student's own account.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from coursehub.courses.servers import workspace_for
from coursehub.courses.workspace import WorkspaceError, hash_files, read_notebook
from coursehub.courses.workspace_files import (
    MAX_WRITE_BYTES,
    FileExists,
    FileMissing,
    rename_file,
    write_file,
)
from coursehub.service.body_limits import body_limit
from coursehub.service.course_access import student_of
from coursehub.service.errors import ApiError
from coursehub.service.routes.moodle_compat.hub_api import ensure_course_server
from coursehub.service.routes.moodle_compat.mapping import (
    checked_user,
    course_of,
    plugin_server,
    split_contents_path,
)

router = APIRouter()
Plugin = Annotated[None, Depends(plugin_server)]
MAX_JSON = MAX_WRITE_BYTES * 4 // 3 + 64 * 1024  # base64 of the largest file, plus framing
PATH = "/user/{user}/api/contents/{path:path}"


async def _where(request: Request, user: str, path: str) -> tuple[Any, Path, str, str]:
    """(student, workspace, path inside it, the plugin's path) after checks and a start."""
    name = checked_user(user)
    moodle_course, inside = split_contents_path(path)
    course = course_of(request, moodle_course)
    await ensure_course_server(request, name, course)
    try:
        student = student_of(request, name)
    except WorkspaceError as exc:
        raise ApiError(409, f"{name}'s account is not ready: {exc}.") from None
    return student, workspace_for(student.home, course), inside, path.strip("/")


def _model(path: str, content: str | None = None) -> dict[str, Any]:
    name = path.rsplit("/", 1)[-1]
    model: dict[str, Any] = {"name": name, "path": path, "type": "file", "writable": True}
    model |= {"format": "base64" if content is not None else None, "content": content}
    return model


@router.get(PATH)
async def get_file(request: Request, user: str, path: str, _: Plugin) -> JSONResponse:
    student, workspace, inside, shown = await _where(request, user, path)
    if request.query_params.get("content", "1") == "0":
        digests = await asyncio.to_thread(hash_files, student, workspace, [inside])
        if digests.get(inside) is None:
            raise ApiError(404, f"No file {shown!r}.")
        return JSONResponse(_model(shown))
    try:
        data = await asyncio.to_thread(read_notebook, student, workspace, inside)
    except WorkspaceError as exc:
        raise ApiError(404, f"No file {shown!r}: {exc}.") from None
    return JSONResponse(_model(shown, base64.b64encode(data).decode()))


async def _json(request: Request) -> dict[str, Any]:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_JSON:
        raise ApiError(413, f"Files are at most {MAX_WRITE_BYTES >> 20} MB.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON:
            raise ApiError(413, f"Files are at most {MAX_WRITE_BYTES >> 20} MB.")
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "Send a JSON object, as the Jupyter contents API expects.") from None
    if not isinstance(value, dict):
        raise ApiError(400, "Send a JSON object, as the Jupyter contents API expects.")
    return value


@router.put(PATH)
@body_limit(MAX_JSON)
async def put_file(request: Request, user: str, path: str, _: Plugin) -> JSONResponse:
    model = await _json(request)
    student, workspace, inside, shown = await _where(request, user, path)
    if model.get("type") == "directory":
        return JSONResponse({**_model(shown), "type": "directory"}, status_code=201)
    if model.get("type") != "file" or model.get("format") != "base64":
        raise ApiError(400, "Send {'type': 'file', 'format': 'base64', 'content': ...}.")
    content = model.get("content")
    try:
        data = base64.b64decode(content if isinstance(content, str) else "", validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "The content is not base64.") from None
    try:
        await asyncio.to_thread(write_file, student, workspace, inside, data)
    except WorkspaceError as exc:
        raise ApiError(400, f"{shown!r} cannot be written: {exc}.") from None
    return JSONResponse(_model(shown), status_code=201)


@router.patch(PATH)
async def rename(request: Request, user: str, path: str, _: Plugin) -> JSONResponse:
    model = await _json(request)
    new_path = model.get("path")
    if not isinstance(new_path, str):
        raise ApiError(400, "Send {'path': <new path>}.")
    student, workspace, inside, shown = await _where(request, user, path)
    new_course, new_inside = split_contents_path(new_path)
    if new_course != shown.split("/", 1)[0]:
        raise ApiError(400, "A file stays in its course's folder.")
    try:
        await asyncio.to_thread(rename_file, student, workspace, inside, new_inside)
    except FileMissing:
        raise ApiError(404, f"No file {shown!r}.") from None
    except FileExists:
        raise ApiError(409, f"{new_path!r} exists already.") from None
    except WorkspaceError as exc:
        raise ApiError(400, str(exc)) from None
    return JSONResponse(_model(new_path.strip("/")))
