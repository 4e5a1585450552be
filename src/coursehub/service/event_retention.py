"""Keeps the events table bounded: drops old events, then the oldest beyond the cap."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("coursehub.service")
EVERY = 600  # seconds between purges


async def purge_events_forever(store: Any, retention_seconds: int, max_stored: int) -> None:
    while True:
        try:
            cutoff = datetime.now(UTC) - timedelta(seconds=retention_seconds)
            gone = await asyncio.to_thread(store.purge, cutoff, max_stored)
            if gone:
                log.info("dropped %d old events", gone)
        except Exception:  # noqa: BLE001 - keep the loop alive; the next round retries
            log.exception("purging old events failed")
        await asyncio.sleep(EVERY)
