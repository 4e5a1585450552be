"""The service's monitor loop: every `stats.sample_every`, one census of the running
servers, handed to each recorder (statistics, runaway kernels, disk use).

A recorder is made per app by a factory `recorder(app) -> Recorder`; it gets the
census and the sample time and does its (blocking) database work; it runs in a
worker thread so the event loop keeps serving pages. One failing recorder is logged
and does not stop the others or the next round.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from coursehub.monitor.census import ServerState, take_census, target_from_settings

log = logging.getLogger("coursehub.monitor")

Recorder = Callable[[list[ServerState] | None, datetime], None]

# module paths of the recorder factories, in the order they run
RECORDERS = (
    "coursehub.stats.sampler",
    "coursehub.monitor.kernel_watch",
    "coursehub.monitor.disk_usage",
)


def recorders_for(app: Any) -> list[tuple[str, Recorder]]:
    found = []
    for name in RECORDERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        found.append((name, module.recorder(app)))
    return found


async def monitor_once(app: Any, recorders: list[tuple[str, Recorder]]) -> None:
    from coursehub.service.course_access import hub_api_client

    now = datetime.now(UTC)
    try:
        census: list[ServerState] | None = await take_census(
            hub_api_client(app), target_from_settings(app.state.settings)
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
