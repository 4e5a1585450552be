"""Pages that follow an LMS launch: an instructor picks notebooks and assignments for
the LMS (Deep Linking), or links an LMS course to one of their coursehub courses.

Both work from a launch record (lti.launch_records) that only the launching user can
use, once, within the hour.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlparse

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from coursehub.config.layout import DataLayout
from coursehub.courses.content import course_content
from coursehub.db.models import LtiContext
from coursehub.lti.course_link import create_course_for_context, link_context
from coursehub.lti.deep_link_response import (
    DeepLinkError,
    assignment_item,
    check_request,
    notebook_item,
    response_jwt,
)
from coursehub.lti.keys import ensure_tool_key
from coursehub.lti.launch_records import LaunchRecord, LaunchStore
from coursehub.lti.launch_validation import DEEP_LINKING
from coursehub.lti.platforms import PlatformStore
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import course_role
from coursehub.service.errors import error_response
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.routes.lti.launch import launch_url, tool_key_path
from coursehub.service.templating import render

log = logging.getLogger("coursehub.lti")
router = APIRouter()


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def _launch_for(request: Request, launch_id: str, user: HubUser, kind: str) -> LaunchRecord:
    record = LaunchStore(context_of(request.app).database).get(launch_id)
    if record is None:
        raise _Refusal(410, "This LMS launch has expired. Open coursehub again from the LMS.")
    if record.username != user.name:
        log.warning(
            "LTI launch %s… used by %s, not its user %s", launch_id[:6], user.name, record.username
        )
        raise _Refusal(403, "This LMS launch belongs to someone else.")
    if record.used:
        raise _Refusal(410, "This LMS launch was already used. Open coursehub again from the LMS.")
    if kind == "deep-link" and record.message_type != DEEP_LINKING:
        raise _Refusal(400, "This launch was not a request to choose content.")
    return record


def _context(request: Request, record: LaunchRecord) -> LtiContext:
    with context_of(request.app).database.session() as s:
        row = s.get(LtiContext, record.context_pk) if record.context_pk else None
        if row is None:
            raise _Refusal(404, "The LMS course of this launch is not known any more.")
        s.expunge(row)
        return row


def _refused(request: Request, exc: _Refusal) -> Response:
    log.warning("LTI page refused: %s", exc)
    return error_response(request, exc.status, str(exc))


# -- choosing content for the LMS (Deep Linking) ---------------------------------------


Choice = tuple[str, str]  # (notebook path, title offered to the LMS)


def _choices(request: Request, course: str) -> tuple[list[tuple[str, list[Choice]]], list[Any]]:
    """The course's notebooks grouped as its page shows them (track, section), each
    once, and its assignments."""
    info = context_of(request.app).courses.get(course)
    repo = context_of(request.app).layout.course_repo(course)
    content = course_content(repo, course, info.current_commit if info else None)
    seen: set[str] = set()
    groups: list[tuple[str, list[Choice]]] = []
    for track in content.tracks:
        for section in track.sections:
            fresh = [nb for nb in section.notebooks if nb not in seen]
            seen.update(fresh)
            if fresh:
                heading = " · ".join(t for t in (track.title, section.title) if t)
                groups.append((heading, [(nb, _title(nb)) for nb in fresh]))
    assignments = context_of(request.app).grading.store.assignments(course)
    return groups, assignments


def _title(path: str) -> str:
    return Path(path).stem.replace("-", " ").replace("_", " ")


def _staff_course(request: Request, record: LaunchRecord, user: HubUser) -> str:
    context = _context(request, record)
    store = context_of(request.app).courses
    if not context.course or store.get(context.course) is None:
        raise _Refusal(404, "This LMS course is not linked to a coursehub course.")
    if course_role(store, user, context.course) not in ("instructor", "ta"):
        raise _Refusal(403, "Only the course's instructors and TAs can choose content for the LMS.")
    return context.course


@router.get("/lti/deep-link/{launch_id}", include_in_schema=False)
async def pick_content(
    request: Request, launch_id: str, user: Annotated[HubUser, Depends(page_user)]
) -> Response:
    try:
        record = await asyncio.to_thread(_launch_for, request, launch_id, user, "deep-link")
        course = await asyncio.to_thread(_staff_course, request, record, user)
        dl = check_request(record.claims)
        groups, assignments = await asyncio.to_thread(_choices, request, course)
    except _Refusal as exc:
        return _refused(request, exc)
    except DeepLinkError as exc:
        log.warning("LTI deep-link request refused: %s", exc)
        return error_response(request, 400, f"coursehub cannot answer this LMS: {exc}.")
    return render(
        request,
        "lti/pick_content.html",
        course=course,
        groups=groups,
        assignments=assignments,
        multiple=dl.get("accept_multiple") is not False,
        action=request.url.path,
    )


@router.post("/lti/deep-link/{launch_id}", include_in_schema=False)
async def send_content(
    request: Request, launch_id: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    form = await request.form()
    picked = [str(v) for v in form.getlist("item")][:50]
    try:
        record = await asyncio.to_thread(_launch_for, request, launch_id, user, "deep-link")
        course = await asyncio.to_thread(_staff_course, request, record, user)
        groups, assignments = await asyncio.to_thread(_choices, request, course)
        known_notebooks = dict(choice for _heading, choices in groups for choice in choices)
        known_assignments = {a.name: a for a in assignments}
        target = launch_url(request)
        items = []
        for value in picked:
            kind, _, name = value.partition(":")
            title = str(form.get(f"title:{value}") or "").strip()[:200]
            if kind == "nb" and name in known_notebooks:
                items.append(notebook_item(target, name, title or known_notebooks[name]))
            elif kind == "as" and name in known_assignments:
                a = known_assignments[name]
                items.append(assignment_item(target, name, title or a.title or name, a.max_points))
            else:
                raise _Refusal(400, f"{value[:80]!r} is not a notebook or assignment of {course}.")
        if not items:
            raise _Refusal(400, "Choose at least one notebook or assignment.")
        platform = PlatformStore(context_of(request.app).database).get(record.platform_id)
        if platform is None:
            raise _Refusal(404, "The LMS of this launch is not registered any more.")
        key = await asyncio.to_thread(
            ensure_tool_key, tool_key_path(context_of(request.app).settings.data_dir)
        )
        token = response_jwt(key, platform, record.claims, items)
        if not await asyncio.to_thread(
            LaunchStore(context_of(request.app).database).mark_used, launch_id
        ):
            raise _Refusal(
                410, "This LMS launch was already used. Open coursehub again from the LMS."
            )
    except _Refusal as exc:
        return _refused(request, exc)
    except DeepLinkError as exc:
        log.warning("LTI deep-link request refused: %s", exc)
        return error_response(request, 400, f"coursehub cannot answer this LMS: {exc}.")
    return_url = check_request(record.claims)["deep_link_return_url"]
    log.info("%s chose %d item(s) of %s for the LMS", user.name, len(items), course)
    response = render(
        request, "lti/post_back.html", return_url=return_url, jwt=token, count=len(items)
    )
    # This one page posts to the LMS (our pages otherwise post only to ourselves).
    origin = _origin(return_url)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; form-action 'self' {origin}; frame-ancestors 'self' "
        + " ".join(context_of(request.app).settings.frame_ancestors)
        + "; base-uri 'self'; object-src 'none'"
    )
    return response


def _origin(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc}"


# -- linking an LMS course to a coursehub course ---------------------------------------


def _linkable(request: Request, user: HubUser) -> list[str]:
    store = context_of(request.app).courses
    if user.role == "admin":
        return [c.name for c in store.list(include_archived=False)]
    return sorted(e.course for e in store.courses_of(user.name) if e.role == "instructor")


@router.get("/lti/link/{launch_id}", include_in_schema=False)
async def choose_course(
    request: Request, launch_id: str, user: Annotated[HubUser, Depends(page_user)]
) -> Response:
    try:
        record = await asyncio.to_thread(_launch_for, request, launch_id, user, "link")
        context = await asyncio.to_thread(_context, request, record)
    except _Refusal as exc:
        return _refused(request, exc)
    courses = await asyncio.to_thread(_linkable, request, user)
    lti = context_of(request.app).settings.lti
    return render(
        request,
        "lti/choose_course.html",
        lms_title=context.title or context.label or context.context_id,
        courses=courses,
        can_create=lti.auto_create_courses,
        action=request.url.path,
    )


@router.post("/lti/link/{launch_id}", include_in_schema=False)
async def link_course(
    request: Request, launch_id: str, user: Annotated[HubUser, Depends(form_user)]
) -> Response:
    form = await request.form()
    choice = str(form.get("course") or "")
    lti = context_of(request.app).settings.lti
    try:
        record = await asyncio.to_thread(_launch_for, request, launch_id, user, "link")
        context = await asyncio.to_thread(_context, request, record)
        if context.course:
            raise _Refusal(409, f"This LMS course is already linked to {context.course}.")
        db, store = context_of(request.app).database, context_of(request.app).courses
        allowed = choice == "+new" and lti.auto_create_courses
        if not allowed and choice not in await asyncio.to_thread(_linkable, request, user):
            raise _Refusal(403, "You can link this LMS course only to a course you teach.")
        # Claimed before linking: two posts at once cannot both link or create.
        if not await asyncio.to_thread(LaunchStore(db).mark_used, launch_id):
            raise _Refusal(
                410, "This LMS launch was already used. Open coursehub again from the LMS."
            )
        if allowed:
            layout = DataLayout(Path(context_of(request.app).settings.data_dir))
            course = await asyncio.to_thread(
                create_course_for_context, db, layout, store, context.id, user.name
            )
        else:
            course = choice
            await asyncio.to_thread(link_context, db, context.id, course)
            await asyncio.to_thread(store.enrol, course, user.name, "instructor")
    except _Refusal as exc:
        return _refused(request, exc)
    log.info("%s linked LMS course %r to %s", user.name, context.title, course)
    prefix = context_of(request.app).settings.service_prefix
    if record.message_type == DEEP_LINKING:
        # They came to choose content: go on to that, for the course just linked.
        launches = LaunchStore(context_of(request.app).database)
        again = await asyncio.to_thread(
            launches.save,
            user.name,
            record.platform_id,
            record.context_pk,
            DEEP_LINKING,
            record.claims,
        )
        return RedirectResponse(f"{prefix}lti/deep-link/{again}", status_code=303)
    return RedirectResponse(f"{prefix}course/{quote(course)}", status_code=303)
