"""Keeps the events table bounded: drops old events, then the oldest beyond the cap."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from coursehub.stats.rollup import roll_up

log = logging.getLogger("coursehub.service")
EVERY = 600  # seconds between purges


def purge_once(store: Any, retention_seconds: int, max_stored: int) -> int:
    """One round: count new events into the statistics, then purge; how many went."""
    # Purged events are gone for good: the statistics must have counted them first.
    roll_up(store.db)
    cutoff = datetime.now(UTC) - timedelta(seconds=retention_seconds)
    return store.purge(cutoff, max_stored)


async def purge_events_forever(store: Any, retention_seconds: int, max_stored: int) -> None:
    while True:
        try:
            gone = await asyncio.to_thread(purge_once, store, retention_seconds, max_stored)
            if gone:
                log.info("dropped %d old events", gone)
        except Exception:  # noqa: BLE001 - keep the loop alive; the next round retries
            log.exception("purging old events failed")
        await asyncio.sleep(EVERY)
