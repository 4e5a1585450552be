"""Scheduled backups, run inside the coursehub service when `backup.dir` is set.

The schedule follows the backups on disk, not the service's uptime: after a restart
the next backup is due `every` after the newest one in `backup.dir`, so restarting
the service neither skips nor repeats a backup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coursehub.backups.create import (
    BackupSources,
    backup_time,
    list_backups,
    prune_backups,
    take_backup,
)
from coursehub.config.loader import load_config

log = logging.getLogger("coursehub.service")
RETRY_SECONDS = 600  # after a failed backup, try again this soon (or at `every`)


def seconds_until_due(dest: Path, every_seconds: float, now: datetime | None = None) -> float:
    """How long until the next backup is due: now if there is none yet."""
    found = list_backups(dest)
    if not found:
        return 0.0
    now = now or datetime.now(UTC)
    elapsed = (now - backup_time(found[-1])).total_seconds()
    return max(0.0, every_seconds - elapsed)


def run_once(config_file: Path, dest: Path, keep: int) -> tuple[Path, list[Path]]:
    """Take one backup of the site configured in `config_file`, then keep `keep`."""
    sources = BackupSources.from_config(load_config(config_file))
    taken = take_backup(sources, dest)
    return taken, prune_backups(dest, keep)


async def backup_forever(config_file: Path, dest: Path, every_seconds: float, keep: int) -> None:
    """Take a backup whenever one is due; a failure is logged and retried."""
    while True:
        await asyncio.sleep(seconds_until_due(dest, every_seconds))
        try:
            taken, removed = await asyncio.to_thread(run_once, config_file, dest, keep)
        except Exception:  # noqa: BLE001 - keep the schedule alive; retry later
            log.exception("scheduled backup into %s failed", dest)
            await asyncio.sleep(min(every_seconds, RETRY_SECONDS))
            continue
        log.info("scheduled backup written to %s (%d old removed)", taken, len(removed))


def start_backup_schedule(settings: Mapping[str, Any]) -> list[asyncio.Task]:
    """Start the loop described by `settings` (the COURSEHUB_BACKUP object), if any."""
    if not settings.get("dir") or not settings.get("config_file"):
        return []
    every = max(60.0, float(settings.get("every_seconds") or 86400))
    keep = max(1, int(settings.get("keep") or 7))
    loop = backup_forever(Path(settings["config_file"]), Path(settings["dir"]), every, keep)
    return [asyncio.create_task(loop)]
