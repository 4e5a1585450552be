"""A student's course page and what they can do to their own notebooks there:
see each notebook's status, reset it to the course version, share a snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from coursehub.courses.content import CourseContent
from coursehub.courses.paths import PathRejected, safe_relative_path
from coursehub.courses.progress import NotebookStatus, Status, status_of
from coursehub.courses.shares import ShareError, notebook_html
from coursehub.courses.workspace import WorkspaceError
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import (
    STAFF_ROLES,
    course_for,
)
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.routes.courses.disk_notice import disk_notice
from coursehub.service.routes.home.course_listing import notebook_link
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()


@dataclass(frozen=True)
class NotebookRow:
    path: str
    status: NotebookStatus
    share_token: str | None


async def _statuses(
    request: Request, content: CourseContent, username: str
) -> dict[str, NotebookStatus]:
    """Status of every notebook of the course for one student."""
    progress = context_of(request.app).progress
    records = await asyncio.to_thread(progress.copies, content.name, username)
    mine: dict[str, str | None] = {}
    opened = [p for p in content.notebooks if p in records]
    if opened:
        try:
            files = context_of(request.app).student_files
            mine = await files.hash_files(username, content.name, opened)
        except WorkspaceError as exc:
            log.warning("status of %s's notebooks in %s: %s", username, content.name, exc)

    def statuses() -> dict[str, NotebookStatus]:
        return {
            p: status_of(p, records.get(p), content.source_sha256(p), mine.get(p))
            for p in content.notebooks
        }

    return await asyncio.to_thread(statuses)


def _notebook(content: CourseContent, path: str) -> str:
    """`path` if it is a notebook of this course, else a 404/400 for the page."""
    try:
        safe_relative_path(content.repo, path)
    except PathRejected as exc:
        raise ApiError(400, f"This notebook path is not valid: {exc.reason}.") from None
    if path not in content.notebooks:
        raise ApiError(404, f"The course {content.name!r} has no notebook {path!r}.")
    return path


def absolute_url(request: Request, path: str) -> str:
    """`path` on the site as people reach it (the configured public URL, if any)."""
    public = context_of(request.app).settings.public_url
    if public:
        parts = urlsplit(public)
        return f"{parts.scheme}://{parts.netloc}{path}"
    host = request.headers.get("host") or request.url.netloc
    return f"{request.url.scheme}://{host}{path}"


async def _course_notebook(
    request: Request, user: HubUser, course: str, path: str
) -> CourseContent:
    """The course (404 unless the caller is in it), after checking `path` is one of its
    notebooks."""
    content, _role = await asyncio.to_thread(course_for, request, user, course)
    _notebook(content, path)
    return content


def _course_url(request: Request, course: str) -> str:
    return f"{context_of(request.app).settings.service_prefix}course/{quote(course)}"


@router.get("/course/{course}", response_class=HTMLResponse, include_in_schema=False)
async def course_page(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content, role = await asyncio.to_thread(course_for, request, user, course)
    statuses = await _statuses(request, content, user.name)
    shares = await asyncio.to_thread(context_of(request.app).shares.shares_of, course, user.name)
    notice = await asyncio.to_thread(disk_notice, request.app, user.name)
    settings = context_of(request.app).settings
    return render(
        request,
        "courses/course.html",
        disk_notice=notice,
        user=user,
        course=content,
        role=role,
        is_staff=role in STAFF_ROLES,
        statuses=statuses,
        shares=shares,
        not_opened=Status.NOT_OPENED,
        course_url=_course_url(request, course),
        link=lambda nb: notebook_link(settings.service_prefix, course, nb),
        quote=quote,
    )


@router.get("/course/{course}/reset/{path:path}", include_in_schema=False)
async def reset_confirm(
    request: Request, course: str, path: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content = await _course_notebook(request, user, course, path)
    return render(
        request,
        "courses/reset.html",
        user=user,
        course=content,
        path=path,
        course_url=_course_url(request, course),
        action=f"{_course_url(request, course)}/reset/{quote(path)}",
    )


@router.post("/course/{course}/reset/{path:path}", include_in_schema=False)
async def reset(
    request: Request, course: str, path: str, user: Annotated[HubUser, Depends(form_user)]
) -> HTMLResponse:
    content = await _course_notebook(request, user, course, path)
    safe_relative_path(content.repo, path)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    progress = context_of(request.app).progress
    try:
        files = context_of(request.app).student_files
        result = await files.reset_notebook(user.name, course, path, path, stamp)
        await asyncio.to_thread(progress.record_reset, course, user.name, path, result.sha256)
    except WorkspaceError as exc:
        raise ApiError(500, f"The notebook was not reset: {exc}.") from None
    log.info("%s reset %s/%s (kept as %s)", user.name, course, path, result.kept_as)
    settings = context_of(request.app).settings
    return render(
        request,
        "courses/reset_done.html",
        user=user,
        course=content,
        path=path,
        kept_as=result.kept_as,
        course_url=_course_url(request, course),
        open_url=notebook_link(settings.service_prefix, course, path),
    )


@router.post("/course/{course}/share/{path:path}", include_in_schema=False)
async def share(
    request: Request, course: str, path: str, user: Annotated[HubUser, Depends(form_user)]
) -> HTMLResponse:
    content = await _course_notebook(request, user, course, path)

    def publish(data: bytes) -> str:
        html = notebook_html(data, path)
        return context_of(request.app).shares.publish(course, user.name, path, html)

    try:
        data = await context_of(request.app).student_files.read_notebook(user.name, course, path)
        token = await asyncio.to_thread(publish, data)
    except (WorkspaceError, ShareError) as exc:
        raise ApiError(400, f"The notebook was not shared: {exc}.") from None
    log.info("%s shared %s/%s", user.name, course, path)
    settings = context_of(request.app).settings
    return render(
        request,
        "courses/share_done.html",
        user=user,
        course=content,
        path=path,
        share_url=absolute_url(request, f"{settings.service_prefix}shared/{token}"),
        course_url=_course_url(request, course),
    )


@router.post("/course/{course}/unshare/{path:path}", include_in_schema=False)
async def unshare(
    request: Request, course: str, path: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    await _course_notebook(request, user, course, path)
    await asyncio.to_thread(context_of(request.app).shares.unpublish, course, user.name, path)
    log.info("%s stopped sharing %s/%s", user.name, course, path)
    return RedirectResponse(_course_url(request, course), status_code=303)
