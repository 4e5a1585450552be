"""The LMS services' background work in the service process: the grade sender, the
periodic roster sync, and the grading workers' score listener. Started from the
app's lifespan with `start_background(app)`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from coursehub.config.service_sections import LtiSection
from coursehub.core.errors import CoursehubError
from coursehub.engines.hub_api import HubClient
from coursehub.lti.grade_sync import score_listener, send_forever
from coursehub.lti.roster_sync import RosterReport, courses_due, sync_course_roster
from coursehub.service.context import context_of

log = logging.getLogger("coursehub.lti")

SENDER_INTERVAL = 60.0
ROSTER_CHECK_MAX = 600.0  # how often due rosters are looked for, at most this apart


def lti_settings(app: Any) -> LtiSection:
    return context_of(app).settings.lti


def grade_passback(app: Any) -> bool:
    return lti_settings(app).grade_passback


def username_claim(app: Any) -> str:
    return lti_settings(app).username_claim


def revoke_shares(app: Any, course: str, usernames: list[str]) -> None:
    """Students the roster sync took out of a course keep no help share in it (as
    when staff unenrol them by hand)."""
    if not usernames:
        return
    settings = context_of(app).settings
    hub = HubClient(settings.api_url, settings.api_token)
    try:
        for username in usernames:
            hub.revoke_course_shares(course, username)
    except CoursehubError as exc:
        log.warning("could not revoke help shares in %s: %s", course, exc)
    finally:
        hub.close()


def sync_roster_now(app: Any, course: str) -> RosterReport:
    """One roster sync of `course` (blocking: call it in a thread)."""
    report = sync_course_roster(
        context_of(app).database,
        context_of(app).courses,
        context_of(app).lti_tokens,
        course,
        username_claim(app),
    )
    revoke_shares(app, course, report.removed_users)
    return report


def wake_sender(app: Any) -> None:
    """Have the grade sender look now (from the event loop's thread only)."""
    if context_of(app).made("lti_grade_wake"):
        context_of(app).lti_grade_wake.set()


async def _sender(app: Any) -> None:
    tokens = await asyncio.to_thread(lambda: context_of(app).lti_tokens)
    await send_forever(
        context_of(app).database, tokens, context_of(app).lti_grade_wake, SENDER_INTERVAL
    )


async def _rosters(app: Any, seconds: int) -> None:
    interval = timedelta(seconds=seconds)
    db = context_of(app).database
    while True:
        try:
            for course in await asyncio.to_thread(courses_due, db, interval):
                try:
                    report = await asyncio.to_thread(sync_roster_now, app, course)
                    if report.scores_queued:
                        wake_sender(app)
                    log.info("roster of %s synced from the LMS: %s", course, report.summary())
                except CoursehubError as exc:
                    log.warning("roster of %s not synced: %s", course, exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - e.g. the database away: next round
            log.exception("the LMS roster sync failed")
        await asyncio.sleep(min(float(seconds), ROSTER_CHECK_MAX))


async def _closing(app: Any, work: Any) -> None:
    try:
        await work
    finally:
        if context_of(app).made("_lti_tokens"):
            with contextlib.suppress(Exception):
                context_of(app).lti_tokens.close()


def start_background(app: Any) -> list[asyncio.Task]:
    """Start the LMS work for `app` (call it in the lifespan, after the grading
    workers start; cancel the tasks at shutdown). Nothing starts unless the LMS
    feature is on and the service has a database and data directory."""
    settings = context_of(app).settings
    lti = lti_settings(app)
    if not lti.enabled or not settings.database_url or not settings.data_dir:
        return []
    tasks: list[asyncio.Task] = []
    if grade_passback(app):
        wake = context_of(app).lti_grade_wake
        workers = context_of(app).grading.workers
        if workers is not None:
            workers.listeners.append(score_listener(context_of(app).database, wake=wake.set))
        tasks.append(asyncio.create_task(_closing(app, _sender(app)), name="lti-grades"))
    seconds = lti.roster_sync_seconds
    if seconds > 0:
        tasks.append(asyncio.create_task(_rosters(app, seconds), name="lti-rosters"))
    return tasks
