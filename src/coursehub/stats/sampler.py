"""The statistics recorder of the monitor loop: each round rolls up new notebook
events, writes one sample per course (running servers, kernels, busy kernels) and one
for the machine (course ""), then applies retention."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from coursehub.config.models import StatsConfig
from coursehub.db import models
from coursehub.db.session import Database
from coursehub.monitor.census import ServerState
from coursehub.stats.retention import apply_retention
from coursehub.stats.rollup import roll_up


@dataclass(frozen=True)
class MachineFigures:
    cpu_load: float | None
    cpu_percent: float | None
    memory_used: float | None
    memory_total: float | None
    disk_free: float | None
    disk_total: float | None


def machine_figures(data_dir: Path) -> MachineFigures:
    """CPU load (1 minute), CPU use since the last call, memory, the data disk."""
    try:
        load: float | None = os.getloadavg()[0]
    except OSError:
        load = None
    memory = psutil.virtual_memory()
    free: float | None
    total: float | None
    try:
        disk = psutil.disk_usage(str(data_dir))
        free, total = float(disk.free), float(disk.total)
    except OSError:
        free = total = None
    return MachineFigures(
        cpu_load=load,
        cpu_percent=psutil.cpu_percent(interval=None),
        memory_used=float(memory.total - memory.available),
        memory_total=float(memory.total),
        disk_free=free,
        disk_total=total,
    )


def sample_rows(
    census: list[ServerState] | None,
    courses: Iterable[str],
    machine: MachineFigures,
    now: datetime,
) -> list[models.StatSample]:
    """The rows of one sample. Without a census (the hub did not answer) only the
    machine's: a course row of zeros would claim nothing ran."""
    rows = [models.StatSample(at=now, resolution="raw", course="", **machine.__dict__)]
    if census is None:
        return rows
    known = {c: [0, 0, 0] for c in courses}
    for server in census:
        counts = known.get(server.course)
        if counts is None:  # default servers and names that are not courses
            continue
        counts[0] += 1
        counts[1] += len(server.kernels or ())
        counts[2] += server.busy_kernels
    for course, (servers, kernels, busy) in sorted(known.items()):
        rows.append(
            models.StatSample(
                at=now,
                resolution="raw",
                course=course,
                servers=servers,
                kernels=kernels,
                busy_kernels=busy,
            )
        )
    return rows


def record_sample(
    db: Database,
    census: list[ServerState] | None,
    courses: Iterable[str],
    machine: MachineFigures,
    now: datetime,
) -> None:
    with db.session() as s:
        s.add_all(sample_rows(census, courses, machine, now))


def recorder(
    db: Database, courses: Callable[[], Iterable[str]], settings: Any
) -> Callable[[list[ServerState] | None, datetime], None]:
    """The statistics recorder: `courses()` names the courses sampled each round."""
    stats = settings.operations.stats
    default = StatsConfig()  # 0 keeps the defaults, as it always has (never "delete all")
    raw_retention = timedelta(seconds=stats.raw_retention or default.raw_retention)
    retention = timedelta(seconds=stats.retention or default.retention)
    data_dir = Path(settings.data_dir)
    psutil.cpu_percent(interval=None)  # the first call only starts the measurement

    def record(census: list[ServerState] | None, now: datetime) -> None:
        # First: events are purged after a while, their counts must be taken before.
        roll_up(db)
        record_sample(db, census, list(courses()), machine_figures(data_dir), now)
        apply_retention(db, now, raw_retention, retention)

    return record
