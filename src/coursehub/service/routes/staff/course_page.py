"""The staff page of a course: pull now, build the environment (output streamed as
it comes), warm-up before class (warmup.py), the roster, and how many students opened
each notebook.

Instructors (and site admins) may pull and build; TAs see the page read-only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, StreamingResponse

from coursehub.core.errors import CoursehubError
from coursehub.courses.build import build_course, environment_state
from coursehub.courses.labextensions import read_report
from coursehub.courses.servers import KERNELS_SUBDIR
from coursehub.engines.hub_api import HubClient
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import (
    INSTRUCTORS,
    STAFF_ROLES,
    course_for,
)
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.routes.courses.disk_notice import staff_disk
from coursehub.service.routes.staff.warmup import NOTICES as WARMUP_NOTICES
from coursehub.service.routes.staff.warmup import warmup_card
from coursehub.service.streaming import stream_operation
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()

USERNAME_SPLIT = re.compile(r"[\s,;]+")
MAX_ENROL = 2000


async def _manager_of(request: Request, user: HubUser, course: str) -> None:
    """Refuse anyone but the course's instructors (and site admins)."""
    await asyncio.to_thread(course_for, request, user, course, INSTRUCTORS)


def _staff_url(request: Request, course: str) -> str:
    return f"{context_of(request.app).settings.service_prefix}course/{quote(course)}/staff"


@router.get("/course/{course}/staff", response_class=HTMLResponse, include_in_schema=False)
async def staff_page(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content, role = await asyncio.to_thread(course_for, request, user, course, STAFF_ROLES)

    def gather() -> dict:
        store = context_of(request.app).courses
        members = store.members(course)
        students = [m.username for m in members if m.role == "student"]
        progress = context_of(request.app).progress
        return {
            "info": store.get(course),
            "members": members,
            "students": students,
            "opened": progress.open_counts(course, students),
            "activity": progress.activity(course),
            "environment": environment_state(context_of(request.app).layout, course),
            "disk": staff_disk(request.app, course, members),
            "labextensions": read_report(
                context_of(request.app).layout.course_dir(course) / KERNELS_SUBDIR
            ),
        }

    data = await asyncio.to_thread(gather)
    warmup = await warmup_card(request, course)
    return render(
        request,
        "staff/course.html",
        user=user,
        course=content,
        role=role,
        can_manage=role == "instructor",
        staff_url=_staff_url(request, course),
        course_url=f"{context_of(request.app).settings.service_prefix}course/{quote(course)}",
        enrolled=request.query_params.get("enrolled", ""),
        warmup=warmup,
        warmup_notice=WARMUP_NOTICES.get(request.query_params.get("warmup", ""), ""),
        quote=quote,
        **data,
    )


@router.post("/course/{course}/staff/enrol", include_in_schema=False)
async def enrol(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    await _manager_of(request, user, course)
    form = await request.form()
    names = [n for n in USERNAME_SPLIT.split(str(form.get("usernames") or "")) if n]
    new_role = str(form.get("role") or "student")
    if not names:
        raise ApiError(400, "Write at least one username to enrol.")
    if len(names) > MAX_ENROL:
        raise ApiError(400, f"Enrol at most {MAX_ENROL} people at once, or use a roster file.")
    try:
        done = await asyncio.to_thread(
            context_of(request.app).courses.enrol_many, course, names, new_role
        )
    except CoursehubError as exc:
        raise ApiError(400, f"Nobody was enrolled: {exc}.") from None
    log.info("%s enrolled %d in %s as %s", user.name, len(done), course, new_role)
    return RedirectResponse(f"{_staff_url(request, course)}?enrolled={len(done)}", 303)


@router.post("/course/{course}/staff/unenrol/{username}", include_in_schema=False)
async def unenrol(
    request: Request, course: str, username: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    await _manager_of(request, user, course)
    if username == user.name:
        raise ApiError(400, "You cannot take yourself out of the course here.")
    try:
        await asyncio.to_thread(context_of(request.app).courses.unenrol, course, username)
    except CoursehubError as exc:
        raise ApiError(400, f"{exc}.") from None
    log.info("%s unenrolled %s from %s", user.name, username, course)
    await asyncio.to_thread(_revoke_shares, request, course, username)
    return RedirectResponse(_staff_url(request, course), 303)


def _revoke_shares(request: Request, course: str, username: str) -> None:
    """Whoever leaves a course keeps no help share tied to it (live view)."""
    settings = context_of(request.app).settings
    hub = HubClient(settings.api_url, settings.api_token)
    try:
        revoked = hub.revoke_course_shares(course, username)
    except CoursehubError as exc:  # the hub is away: say so, the enrolment is gone anyway
        log.warning("could not revoke %s's shares in %s: %s", username, course, exc)
        return
    finally:
        hub.close()
    if revoked:
        log.info("revoked %d help shares of %s in %s", revoked, username, course)


@router.post("/course/{course}/staff/pull", include_in_schema=False)
async def pull_now(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> StreamingResponse:
    await _manager_of(request, user, course)
    store = context_of(request.app).courses

    def work(out: Callable[[str], None]) -> tuple[bool, str]:
        result = store.pull(course, log=out)
        if not result.ok:
            return False, "The pull failed; the course keeps its previous version."
        if result.changed:
            return True, f"Updated to {str(result.new_commit)[:12]}."
        return True, "Already up to date."

    log.info("%s pulls %s from the staff page", user.name, course)
    return stream_operation(request, user, f"Pulling {course}", _staff_url(request, course), work)


@router.post("/course/{course}/staff/build", include_in_schema=False)
async def build_now(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> StreamingResponse:
    await _manager_of(request, user, course)
    force = (await request.form()).get("force") == "1"
    layout = context_of(request.app).layout

    def work(out: Callable[[str], None]) -> tuple[bool, str]:
        result = build_course(layout, course, log=lambda line: out(line + "\n"), force=force)
        if not result.built:
            return True, "The environment was already up to date; nothing was rebuilt."
        return True, f"Built in {result.seconds:.0f} s. Servers started from now on use it."

    log.info("%s builds %s from the staff page (force=%s)", user.name, course, force)
    title = f"Building the environment of {course}"
    return stream_operation(request, user, title, _staff_url(request, course), work)
