"""Warm-up on the course's staff page: "class starts in …", the plan (who can be
warmed now, who cannot and why, what memory allows) and each warm-up's status.

The course's instructors and teaching assistants (and site admins) plan and cancel
warm-ups: TAs run labs and sections too, and a warm-up changes nothing of anyone's
work. Students see none of it (the staff page answers them 403, others 404). Forms
carry the page's XSRF field (service/forms.py), and a warm-up is always the course's
of the URL, checked against the caller's role: a form for another course, or naming
another course's warm-up, changes nothing.

The service's warm-up task runs what is planned here (service/tasks/warmup.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse

from coursehub.core.errors import CoursehubError
from coursehub.core.times import TimeTextError, local_zone, parse_time, zone_named
from coursehub.service.context import context_of
from coursehub.service.course_access import STAFF_ROLES, course_for
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.warmup import runner
from coursehub.warmup.hub import HubApi, HubRefused
from coursehub.warmup.memory import Bound
from coursehub.warmup.plan import Plan
from coursehub.warmup.schedule import requested_times, spoken
from coursehub.warmup.store import WarmUpInfo, WarmupStore

log = logging.getLogger("coursehub.service")
router = APIRouter()
MAX_MINUTES = 7 * 24 * 60
NOTICES = {
    "planned": "The warm-up is planned; it begins at the time shown below.",
    "cancelled": "Cancelled: a warm-up not begun will not run; servers a warm-up started "
    "that nobody used are being stopped.",
}


@dataclass
class WarmupCard:
    """What the staff page shows of warm-ups."""

    warmups: list[WarmUpInfo] = field(default_factory=list)
    plan: Plan | None = None  # None: the hub could not be asked
    bound: Bound | None = None
    joined_at_signin: list[str] = field(default_factory=list)
    lead_minutes: int = 15
    lead: str = "15 minutes"
    unused_after: str = "30 minutes"
    problem: str = ""


async def warmup_card(request: Request, course: str) -> WarmupCard:
    """The staff page's warm-up card of `course` (the caller's role is checked by the
    page)."""
    context = context_of(request.app)
    settings = context.settings
    store = WarmupStore(context.database)
    card = WarmupCard(
        warmups=await asyncio.to_thread(store.of_course, course, 8),
        joined_at_signin=await asyncio.to_thread(
            runner.joined_at_signin, context.database, course, settings.warmup
        ),
        lead_minutes=settings.warmup.lead // 60,
        lead=spoken(settings.warmup.lead),
        unused_after=spoken(settings.warmup.unused_after),
    )
    hub = HubApi(context.hub_api, settings.api_url, settings.api_token)
    try:
        card.plan, card.bound = await runner.plan_for(
            context.database, hub, course, settings.warmup, create_users=False
        )
    except (HubRefused, httpx.HTTPError, OSError) as exc:
        log.warning("warm-up plan of %s: %s", course, exc)
        card.problem = "The hub could not be asked who can be warmed; try again in a moment."
    return card


def _staff_url(request: Request, course: str) -> str:
    return f"{context_of(request.app).settings.service_prefix}course/{quote(course)}/staff"


def class_start(form: Any, now: datetime) -> datetime:
    """The class start a form names: `at` (a datetime-local, in the browser's `zone`,
    or text with an offset or zone name) or `minutes` from now."""
    at = str(form.get("at") or "").strip()
    if at:
        zone = zone_named(str(form.get("zone") or "")) or local_zone()
        try:
            return parse_time(at, default_zone=zone)
        except TimeTextError as exc:
            raise ApiError(400, str(exc)) from None
    text = str(form.get("minutes") or "0").strip()
    try:
        minutes = int(text)
    except ValueError:
        raise ApiError(400, f"{text[:20]!r} is not a number of minutes.") from None
    if not 0 <= minutes <= MAX_MINUTES:
        raise ApiError(400, f"Say in how many minutes the class starts: 0 to {MAX_MINUTES}.")
    return now + timedelta(minutes=minutes)


@router.post("/course/{course}/staff/warmup", include_in_schema=False)
async def plan_warmup(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    await asyncio.to_thread(course_for, request, user, course, STAFF_ROLES)
    context = context_of(request.app)
    settings = context.settings.warmup
    now = datetime.now(UTC)
    start = class_start(await request.form(), now)
    try:
        times = requested_times(start, settings.lead, settings.unused_after, now)
        info = await asyncio.to_thread(
            WarmupStore(context.database).create, course, times, "staff page", user.name
        )
    except CoursehubError as exc:
        raise ApiError(400, f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
    log.info("%s planned warm-up %d of %s for %s", user.name, info.id, course, start)
    context.warmup_wake.set()
    return RedirectResponse(f"{_staff_url(request, course)}?warmup=planned#warmup", 303)


@router.post("/course/{course}/staff/warmup/{warmup_id}/cancel", include_in_schema=False)
async def cancel_warmup(
    request: Request,
    course: str,
    warmup_id: int,
    user: Annotated[HubUser, Depends(form_user)],
) -> RedirectResponse:
    await asyncio.to_thread(course_for, request, user, course, STAFF_ROLES)
    context = context_of(request.app)
    try:
        what = await asyncio.to_thread(WarmupStore(context.database).cancel, course, warmup_id)
    except CoursehubError as exc:
        raise ApiError(404 if "has no warm-up" in str(exc) else 400, f"{exc}.") from None
    log.info("%s cancelled warm-up %d of %s", user.name, warmup_id, course)
    context.warmup_wake.set()
    log.info("warm-up %d of %s: %s", warmup_id, course, what)
    return RedirectResponse(f"{_staff_url(request, course)}?warmup=cancelled#warmup", 303)
