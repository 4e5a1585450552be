"""Periodic `git pull` of every active course, run inside the coursehub service."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("coursehub.service")


async def pull_due_courses(store: Any, interval: timedelta) -> list[str]:
    """Pull every non-archived course not pulled within `interval`; names pulled."""
    due = await asyncio.to_thread(store.due_for_autopull, datetime.now(UTC), interval)
    for name in due:
        try:
            result = await asyncio.to_thread(store.pull, name)
        except Exception as exc:  # noqa: BLE001 - one broken course must not stop the others
            log.warning("autopull of %s failed: %s", name, exc)
            continue
        if not result.ok:
            log.warning("autopull of %s failed (see `coursehub course show %s`)", name, name)
        elif result.old_commit != result.new_commit:
            log.info("autopull of %s: %s -> %s", name, result.old_commit, result.new_commit)
    return due


async def autopull_forever(store: Any, interval_seconds: int) -> None:
    """Check every so often (at most each minute) for courses due a pull."""
    interval = timedelta(seconds=interval_seconds)
    tick = max(1, min(60, interval_seconds))
    while True:
        try:
            await pull_due_courses(store, interval)
        except Exception:  # noqa: BLE001 - keep the loop alive; the next tick retries
            log.exception("autopull round failed")
        await asyncio.sleep(tick)
