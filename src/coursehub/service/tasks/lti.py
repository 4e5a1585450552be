"""The LMS services' background work in the service process: the grade sender, the
periodic roster sync, and the grading workers' score listener. Started from the
app's lifespan with `start_background(app)`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from coursehub.config.layout import DataLayout
from coursehub.config.service_sections import LtiSection
from coursehub.core.errors import CoursehubError
from coursehub.engines.hub_api import HubClient
from coursehub.lti.grade_sync import score_listener, send_forever
from coursehub.lti.keys import ensure_tool_key
from coursehub.lti.roster_sync import RosterReport, courses_due, sync_course_roster
from coursehub.lti.service_token import ServiceTokens
from coursehub.service.course_access import database_for, store_for
from coursehub.service.routes.lti.launch import TOOL_KEY_FILE
from coursehub.service.tasks.grading import grading_of

log = logging.getLogger("coursehub.lti")

SENDER_INTERVAL = 60.0
ROSTER_CHECK_MAX = 600.0  # how often due rosters are looked for, at most this apart
_making_tokens = threading.Lock()  # the sender and the roster sync start together


def lti_settings(app: Any) -> LtiSection:
    return app.state.settings.lti


def grade_passback(app: Any) -> bool:
    return lti_settings(app).grade_passback


def username_claim(app: Any) -> str:
    return lti_settings(app).username_claim


def tokens_for(app: Any) -> ServiceTokens:
    """The app's ServiceTokens (made with the tool's key on first use; blocking)."""
    state = app.state
    with _making_tokens:
        if getattr(state, "lti_tokens", None) is None:
            path = DataLayout(Path(state.settings.data_dir)).secret_file(TOOL_KEY_FILE)
            state.lti_tokens = ServiceTokens(ensure_tool_key(path))
    return state.lti_tokens


def grade_wake(app: Any) -> asyncio.Event:
    """The event that wakes the grade sender (a score was queued)."""
    if getattr(app.state, "lti_grade_wake", None) is None:
        app.state.lti_grade_wake = asyncio.Event()
    return app.state.lti_grade_wake


def revoke_shares(app: Any, course: str, usernames: list[str]) -> None:
    """Students the roster sync took out of a course keep no help share in it (as
    when staff unenrol them by hand)."""
    if not usernames:
        return
    settings = app.state.settings
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
        database_for(app), store_for(app), tokens_for(app), course, username_claim(app)
    )
    revoke_shares(app, course, report.removed_users)
    return report


def wake_sender(app: Any) -> None:
    """Have the grade sender look now (from the event loop's thread only)."""
    wake = getattr(app.state, "lti_grade_wake", None)
    if wake is not None:
        wake.set()


async def _sender(app: Any) -> None:
    tokens = await asyncio.to_thread(tokens_for, app)
    await send_forever(database_for(app), tokens, grade_wake(app), SENDER_INTERVAL)


async def _rosters(app: Any, seconds: int) -> None:
    interval = timedelta(seconds=seconds)
    db = database_for(app)
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
        tokens = getattr(app.state, "lti_tokens", None)
        if tokens is not None:
            with contextlib.suppress(Exception):
                tokens.close()


def start_background(app: Any) -> list[asyncio.Task]:
    """Start the LMS work for `app` (call it in the lifespan, after the grading
    workers start; cancel the tasks at shutdown). Nothing starts unless the LMS
    feature is on and the service has a database and data directory."""
    settings = app.state.settings
    lti = lti_settings(app)
    if not lti.enabled or not settings.database_url or not settings.data_dir:
        return []
    tasks: list[asyncio.Task] = []
    if grade_passback(app):
        wake = grade_wake(app)
        workers = grading_of(app).workers
        if workers is not None:
            workers.listeners.append(score_listener(database_for(app), wake=wake.set))
        tasks.append(asyncio.create_task(_closing(app, _sender(app)), name="lti-grades"))
    seconds = lti.roster_sync_seconds
    if seconds > 0:
        tasks.append(asyncio.create_task(_rosters(app, seconds), name="lti-rosters"))
    return tasks
