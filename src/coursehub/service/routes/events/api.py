"""The events API: `POST /api/events` from student servers, `GET /api/events` for staff.

Who may do what:
- posting: any signed-in user, for themselves only (the user comes from the token; a
  different `user` field is refused), into a course they are enrolled in;
- reading: site admins everything; instructors and TAs the events of a course they
  teach (the `course` filter is then required); students nothing.
A course the caller is not in is "not found" (404), as everywhere (course_access).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.responses import JSONResponse

from coursehub.core.numbers import whole_number
from coursehub.core.times import utc
from coursehub.events.schema import EventIn, EventOut
from coursehub.events.store import EventFilter
from coursehub.service import metrics
from coursehub.service.auth import api_user
from coursehub.service.context import context_of
from coursehub.service.course_access import STAFF_ROLES, not_yours, require_role
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser

router = APIRouter()

MAX_BODY_BYTES = 256 * 1024
MAX_BATCH = 1000
MAX_PAGE = 1000
MEMBERSHIP_TTL = 30.0  # seconds a (user, course) role is remembered between posts


def _cached_role(app: Any, user: HubUser, course: str) -> tuple[bool, str | None]:
    hit = context_of(app).event_roles.get((user.name, course))
    if hit is not None and time.monotonic() - hit[0] < MEMBERSHIP_TTL:
        return True, hit[1]
    return False, None


def _lookup_role(app: Any, user: HubUser, course: str) -> str | None:
    try:
        role: str | None = require_role(context_of(app).courses, user, course)
    except ApiError:
        role = None  # not a member, or no such course
    cache = context_of(app).event_roles
    if len(cache) > 50_000:
        cache.clear()
    cache[(user.name, course)] = (time.monotonic(), role)
    return role


async def _role_in(app: Any, user: HubUser, course: str) -> str | None:
    """The caller's role in `course`, remembered briefly: a class posting thousands of
    events a second must not cost a membership query each (nor a thread hop)."""
    known, role = _cached_role(app, user, course)
    if known:
        return role
    return await asyncio.to_thread(_lookup_role, app, user, course)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if (whole_number(declared) or 0) > MAX_BODY_BYTES:
        raise ApiError(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    return bytes(body)


def _parse(body: bytes) -> list[EventIn]:
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The body is not valid JSON.") from None
    items = raw if isinstance(raw, list) else [raw]
    if not items or len(items) > MAX_BATCH:
        raise ApiError(400, f"Send one event, or a list of 1 to {MAX_BATCH} events.")
    events = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(400, f"Event {n}: expected a JSON object.")
        try:
            events.append(EventIn.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "event"
            message = first["msg"].removeprefix("Value error, ")
            raise ApiError(400, f"Event {n}: {where}: {message}.") from None
    return events


@router.post("/events", status_code=201)
async def post_events(
    request: Request, user: Annotated[HubUser, Depends(api_user)]
) -> JSONResponse:
    """Store one event (→ `{"id": N}`) or a list (→ `{"ids": [...]}`)."""
    try:
        return await _post_events(request, user)
    except ApiError as exc:
        metrics.event_post_rejected(request.app, exc.status_code)
        raise


async def _post_events(request: Request, user: HubUser) -> JSONResponse:
    body = await _read_body(request)
    events = _parse(body)
    metrics.events_received(request.app, len(events))
    for event in events:
        if event.user is not None and event.user != user.name:
            raise ApiError(403, "You may only send your own events (the user is your token's).")
    wait = context_of(request.app).event_limiter.take(user.name, len(events))
    if wait:
        retry = "60" if wait == float("inf") else str(max(1, round(wait)))
        raise ApiError(
            429, "Too many events; slow down and retry later.", headers={"Retry-After": retry}
        )
    for course in {e.course for e in events if e.course}:
        role = await _role_in(request.app, user, course)
        if role is None:
            raise not_yours(course)
    ids = await context_of(request.app).event_writer.submit(user.name, events)
    metrics.events_stored(request.app, len(ids))
    payload: dict[str, Any] = {"ids": ids} if body.lstrip().startswith(b"[") else {"id": ids[0]}
    return JSONResponse(payload, status_code=201)


@router.get("/events")
async def get_events(
    request: Request,
    user: Annotated[HubUser, Depends(api_user)],
    type: str | None = None,
    course: str | None = None,
    filename: str | None = None,
    path: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    user_filter: Annotated[str | None, Query(alias="user")] = None,
) -> dict[str, Any]:
    """A page of events, oldest first; `next` is the `after` of the following page."""
    if user.role != "admin":
        if course is None:
            raise ApiError(403, "Name the course whose events you want (?course=...).")
        role = await _role_in(request.app, user, course)
        if role is None:
            raise not_yours(course)
        if role not in STAFF_ROLES:
            raise ApiError(403, f"Only the staff of {course!r} may read its events.")
    found = await asyncio.to_thread(
        context_of(request.app).events.query,
        EventFilter(
            type=type,
            user=user_filter,
            course=course,
            filename=filename,
            path=path,
            since=utc(since),
            until=utc(until),
            after_id=after,
        ),
        limit,
    )
    events = [EventOut.model_validate(e).model_dump(mode="json") for e in found]
    return {"events": events, "next": found[-1].id if len(found) == limit else None}
