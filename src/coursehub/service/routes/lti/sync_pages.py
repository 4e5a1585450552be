"""The course's LMS page for staff: the LMS courses linked to it, their last roster
sync, and every score queued for or sent to an LMS gradebook. Instructors (and site
admins) may resend all scores and sync the roster now; TAs see the page; students
get 403, as on the course's other staff pages."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.responses import HTMLResponse, RedirectResponse

from coursehub.core.errors import CoursehubError
from coursehub.core.numbers import whole_number
from coursehub.db.models import LtiContext, LtiPlatform
from coursehub.grading.gradebook import awaiting_by_hand
from coursehub.lti.ags import SCOPE_SCORE
from coursehub.lti.grade_sync import requeue_course, sync_rows
from coursehub.lti.roster_sync import RosterSyncError
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import INSTRUCTORS, STAFF_ROLES, course_for
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.routes.assignments.views import points, when
from coursehub.service.tasks.lti import grade_passback, sync_roster_now, wake_sender
from coursehub.service.templating import render

log = logging.getLogger("coursehub.lti")
router = APIRouter()

COUNTS = ("added", "updated", "removed", "skipped")


def _page_url(request: Request, course: str) -> str:
    return f"{context_of(request.app).settings.service_prefix}course/{quote(course)}/lms"


async def _role(request: Request, user: HubUser, course: str, manage: bool = False) -> Any:
    allowed = INSTRUCTORS if manage else STAFF_ROLES
    content, role = await asyncio.to_thread(course_for, request, user, course, allowed)
    return content, role


def linked_lms_courses(db: Any, course: str) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.execute(
            select(LtiContext, LtiPlatform.name)
            .join(LtiPlatform, LtiPlatform.id == LtiContext.platform_id)
            .where(LtiContext.course == course)
            .order_by(LtiPlatform.name, LtiContext.title)
        ).all()
        found = []
        for ctx, platform in rows:
            try:
                scopes = json.loads(ctx.ags_scopes or "[]")
            except ValueError:
                scopes = []
            found.append(
                {
                    "pk": ctx.id,
                    "platform": platform,
                    "title": ctx.title or ctx.label or ctx.context_id,
                    "label": ctx.label,
                    "scores": bool(ctx.ags_lineitems_url) and SCOPE_SCORE in scopes,
                    "roster": bool(ctx.nrps_url),
                    "synced_at": ctx.roster_synced_at,
                    "outcome": ctx.roster_sync_outcome,
                }
            )
        return found


def _counts(rows: list[Any]) -> str:
    found = Counter(r.status for r in rows)
    order = ("sent", "pending", "sending", "failed")
    return " · ".join(f"{found[s]} {s}" for s in order if found[s])


def _notice(request: Request) -> str:
    params = request.query_params
    queued = params.get("queued", "")
    if whole_number(queued) is not None:
        return f"{queued} score{'' if queued == '1' else 's'} queued for the LMS."
    if all(whole_number(params.get(k)) is not None for k in COUNTS):
        return "Roster synced: " + ", ".join(f"{params[k]} {k}" for k in COUNTS) + "."
    return ""


@router.get("/course/{course}/lms", response_class=HTMLResponse, include_in_schema=False)
async def lms_page(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content, role = await _role(request, user, course)
    db = context_of(request.app).database
    linked = await asyncio.to_thread(linked_lms_courses, db, course)
    rows = await asyncio.to_thread(sync_rows, db, course)
    store = context_of(request.app).grading.store
    partial = await asyncio.to_thread(awaiting_by_hand, store, course) if rows else set()
    titles = {c["pk"]: f"{c['platform']} · {c['title']}" for c in linked}
    url = _page_url(request, course)
    return render(
        request,
        "lti/sync.html",
        user=user,
        course=content,
        role=role,
        can_manage=role == "instructor",
        linked=linked,
        rows=rows,
        partial=partial,
        several=len(linked) > 1,
        titles=titles,
        counts=_counts(rows),
        passback=grade_passback(request.app),
        notice=_notice(request),
        url=url,
        staff_url=url.removesuffix("/lms") + "/staff",
        when=when,
        points=points,
    )


@router.post("/course/{course}/lms/resend", include_in_schema=False)
async def resend_all(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    await _role(request, user, course, manage=True)
    if not grade_passback(request.app):
        raise ApiError(400, "Sending scores to the LMS is turned off (lti.grade_passback).")
    db = context_of(request.app).database
    queued = await asyncio.to_thread(requeue_course, db, course)
    wake_sender(request.app)
    log.info("%s queued %d scores of %s for the LMS again", user.name, queued, course)
    return RedirectResponse(f"{_page_url(request, course)}?queued={queued}", 303)


@router.post("/course/{course}/lms/roster", include_in_schema=False)
async def sync_roster(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    await _role(request, user, course, manage=True)
    try:
        report = await asyncio.to_thread(sync_roster_now, request.app, course)
    except RosterSyncError as exc:
        raise ApiError(400, f"{exc}.") from None
    except CoursehubError as exc:  # e.g. the tool's key file cannot be read: for admins
        log.error("roster sync of %s failed: %s", course, exc)
        raise ApiError(500, "The roster could not be synced; the service log says why.") from None
    if report.scores_queued:
        wake_sender(request.app)
    log.info("%s synced the roster of %s: %s", user.name, course, report.summary())
    query = "&".join(f"{k}={getattr(report, k)}" for k in COUNTS)
    return RedirectResponse(f"{_page_url(request, course)}?{query}", 303)
