"""The site administrators' course list: add (clone shown as it runs), archive,
unarchive and remove courses, as `coursehub course ...` does from a shell."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, StreamingResponse

from coursehub.core.errors import CoursehubError
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.streaming import stream_operation
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()


def _admin_only(user: HubUser) -> None:
    if user.role != "admin":
        raise ApiError(403, "Only site administrators manage courses here.")


def _admin_url(request: Request) -> str:
    return f"{context_of(request.app).settings.service_prefix}admin/courses"


@router.get("/admin/courses", response_class=HTMLResponse, include_in_schema=False)
async def courses_page(
    request: Request, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    _admin_only(user)
    courses = await asyncio.to_thread(context_of(request.app).courses.list)
    prefix = context_of(request.app).settings.service_prefix
    return render(
        request,
        "courses/admin.html",
        user=user,
        courses=courses,
        admin_url=_admin_url(request),
        course_url=lambda name: f"{prefix}course/{quote(name)}",
        quote=quote,
    )


@router.post("/admin/courses/add", include_in_schema=False)
async def add_course(
    request: Request, user: Annotated[HubUser, Depends(form_user)]
) -> StreamingResponse:
    _admin_only(user)
    form = await request.form()
    name = str(form.get("name") or "").strip()
    repo = str(form.get("repo") or "").strip()
    branch = str(form.get("branch") or "").strip() or None
    if not name or not repo:
        raise ApiError(400, "Give the course a name and a repository.")
    store = context_of(request.app).courses

    def work(out: Callable[[str], None]) -> tuple[bool, str]:
        out(f"Cloning the repository for course {name}…\n")
        info = store.add(name, repo, branch)
        out(info.last_pull_output)
        return True, (
            f"Added course {name} at {str(info.current_commit)[:12]} ({info.branch}). "
            "Enrol people from its staff page, and build its environment there."
        )

    log.info("%s adds course %s", user.name, name)
    return stream_operation(request, user, f"Adding course {name}", _admin_url(request), work)


async def _change(request: Request, user: HubUser, action: Callable[[], None]) -> RedirectResponse:
    _admin_only(user)
    try:
        await asyncio.to_thread(action)
    except CoursehubError as exc:
        raise ApiError(400, f"{exc}.") from None
    return RedirectResponse(_admin_url(request), status_code=303)


@router.post("/admin/courses/{course}/archive", include_in_schema=False)
async def archive(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    log.info("%s archives %s", user.name, course)
    return await _change(request, user, lambda: context_of(request.app).courses.archive(course))


@router.post("/admin/courses/{course}/unarchive", include_in_schema=False)
async def unarchive(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    log.info("%s unarchives %s", user.name, course)
    return await _change(request, user, lambda: context_of(request.app).courses.unarchive(course))


@router.post("/admin/courses/{course}/remove", include_in_schema=False)
async def remove(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    _admin_only(user)
    typed = str((await request.form()).get("confirm") or "").strip()
    if typed != course:
        raise ApiError(400, f"Type the course name, {course}, to confirm its removal.")
    log.info("%s removes %s", user.name, course)
    return await _change(request, user, lambda: context_of(request.app).courses.remove(course))
