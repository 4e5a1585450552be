"""Warm-ups in the service, with nobody watching: each course's next lecture from its
course.yaml planned, warm-ups whose time has come run (one after another), and the
unused servers of past ones stopped after the class.

The loop sleeps until the next thing to do (at most TICK seconds: a warm-up planned by
the command line or another process is seen within that), or until the staff page
wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from coursehub.core.errors import CoursehubError
from coursehub.courses.lectures import LecturesSpec
from coursehub.courses.manifest import load_manifest
from coursehub.service.context import context_of
from coursehub.warmup import runner
from coursehub.warmup.hub import HubApi
from coursehub.warmup.schedule import times_for
from coursehub.warmup.store import WarmupStore

log = logging.getLogger("coursehub.warmup")
TICK = 10.0
LECTURES_EVERY = 60.0  # course.yaml's lectures are looked at this often
# course -> (commit, whether course.yaml could be read, its lectures)
Seen = dict[str, tuple[str | None, bool, LecturesSpec | None]]


def plan_lectures(app: Any, now: datetime, seen: Seen) -> None:
    """Make each active course's next lecture (course.yaml) a scheduled warm-up.
    `seen` keeps each course's lectures by commit, so a file is read once a version."""
    context = context_of(app)
    settings = context.settings.warmup
    store = WarmupStore(context.database)
    for course in context.courses.list(include_archived=False):
        kept = seen.get(course.name)
        if kept is None or kept[0] != course.current_commit:
            try:
                manifest = load_manifest(context.layout.course_repo(course.name), course.name)
                kept = (course.current_commit, True, manifest.lectures)
            except (CoursehubError, OSError) as exc:
                log.warning("the lectures of %s cannot be read: %s", course.name, exc)
                kept = (course.current_commit, False, None)
            seen[course.name] = kept
        _, readable, lectures = kept
        if not readable:
            continue  # what was planned stays planned until the file is fixed
        next_class = lectures.next_lecture(now) if lectures is not None else None
        times = None
        if next_class is not None:
            times = times_for(next_class, settings.lead, settings.unused_after, now)
        made = store.sync_lecture(course.name, times)
        if made is not None:
            log.info(
                "warm-up planned for the lecture of %s at %s (begins %s)",
                course.name,
                made.class_starts_at,
                made.begins_at,
            )


async def warmups_forever(app: Any) -> None:
    context = context_of(app)
    settings = context.settings
    store = WarmupStore(context.database)
    hub = HubApi(context.hub_api, settings.api_url, settings.api_token)
    for warmup_id in await asyncio.to_thread(store.interrupted, "service"):
        log.warning("warm-up %d was interrupted by a restart", warmup_id)
    seen: Seen = {}
    lectures_at = -LECTURES_EVERY
    wake = context.warmup_wake
    while True:
        wake.clear()
        now = datetime.now(UTC)
        try:
            if time.monotonic() - lectures_at >= LECTURES_EVERY:
                lectures_at = time.monotonic()
                await asyncio.to_thread(plan_lectures, app, now, seen)
                await asyncio.to_thread(store.forget_old, now)
            for warmup_id in await asyncio.to_thread(store.due, now):
                if await asyncio.to_thread(store.claim, warmup_id, "service"):
                    await runner.run(context.database, hub, warmup_id, settings.warmup)
            for warmup_id in await asyncio.to_thread(store.to_settle, datetime.now(UTC)):
                await runner.settle(context.database, hub, warmup_id)
            upcoming = await asyncio.to_thread(store.next_due, datetime.now(UTC))
        except Exception:  # noqa: BLE001 - the next round tries again
            log.exception("warm-up round failed")
            upcoming = None
        delay = TICK
        if upcoming is not None:
            delay = min(TICK, max(0.2, (upcoming - datetime.now(UTC)).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)
