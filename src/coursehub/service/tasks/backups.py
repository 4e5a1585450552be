"""Scheduled backups, run inside the coursehub service when `backup.dir` is set.

The schedule follows the backups on disk, not the service's uptime: after a restart
the next backup is due `every` after the newest one in `backup.dir`, so restarting
the service neither skips nor repeats a backup.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

from coursehub.backups.create import (
    BackupSources,
    backup_time,
    list_backups,
    prune_backups,
    take_backup,
)
from coursehub.config.loader import load_config
from coursehub.config.models import BackupConfig
from coursehub.config.service_sections import BackupSection

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


def start_backup_schedule(schedule: BackupSection | None) -> list[asyncio.Task]:
    """Start the loop `schedule` (COURSEHUB_BACKUP) describes, if any."""
    if schedule is None or schedule.config_file is None:
        return []
    # 0 means the default (daily), as it always has; never more often than a minute
    every = max(60.0, float(schedule.every_seconds or BackupConfig().every))
    loop = backup_forever(schedule.config_file, schedule.dir, every, schedule.keep)
    return [asyncio.create_task(loop)]
