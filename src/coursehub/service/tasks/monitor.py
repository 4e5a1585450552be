"""The service's monitor loop: every `stats.sample_every`, one census of the running
servers, handed to each recorder (statistics, runaway kernels, disk use).

Each recorder is made for the app from its database and settings; it gets the
census and the sample time and does its (blocking) database work; it runs in a
worker thread so the event loop keeps serving pages. One failing recorder is logged
and does not stop the others or the next round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from coursehub.monitor import disk_usage, kernel_watch
from coursehub.monitor.census import ServerState, take_census, target_from_settings
from coursehub.service.context import context_of
from coursehub.stats import sampler

log = logging.getLogger("coursehub.monitor")

Recorder = Callable[[list[ServerState] | None, datetime], None]


def recorders_for(app: Any) -> list[tuple[str, Recorder]]:
    """The recorders of this app's site, in the order they run."""
    settings = context_of(app).settings
    db = context_of(app).database

    def courses() -> list[str]:
        return [c.name for c in context_of(app).courses.list(include_archived=False)]

    return [
        ("statistics", sampler.recorder(db, courses, settings)),
        ("runaway kernels", kernel_watch.recorder(db)),
        ("disk use", disk_usage.recorder(db, settings)),
    ]


async def monitor_once(app: Any, recorders: list[tuple[str, Recorder]]) -> None:
    now = datetime.now(UTC)
    try:
        context = context_of(app)
        census: list[ServerState] | None = await take_census(
            context.hub_api, target_from_settings(context.settings, context.server_tokens)
        )
    except Exception as exc:  # the hub restarting, say: record what can be recorded
        log.warning("monitor: could not list running servers (%s)", exc)
        census = None
    for name, record in recorders:
        try:
            await asyncio.to_thread(record, census, now)
        except Exception:
            log.exception("monitor: %s failed", name)


async def monitor_forever(app: Any, every: float) -> None:
    recorders = recorders_for(app)
    while True:
        await monitor_once(app, recorders)
        await asyncio.sleep(every)
