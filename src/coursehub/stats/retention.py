"""Bounded statistics: raw samples older than `raw_retention` become hourly averages,
and hourly samples and daily counts older than `retention` are deleted."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from coursehub.core.times import utc
from coursehub.db import models
from coursehub.db.session import Database

AVERAGED = (
    "servers",
    "kernels",
    "busy_kernels",
    "cpu_load",
    "cpu_percent",
    "memory_used",
    "memory_total",
    "disk_free",
    "disk_total",
)
CHUNK = timedelta(days=1)  # hours downsampled per transaction


def hour_of(when: datetime) -> datetime:
    return utc(when).replace(minute=0, second=0, microsecond=0)


def downsample(db: Database, now: datetime, raw_retention: timedelta) -> int:
    """Average raw samples of whole hours older than `raw_retention` into one "hour"
    row per (course, hour) and delete them; how many raw samples went."""
    # Only whole hours: a later run must not make a second row for the same hour.
    cutoff = hour_of(now - raw_retention)
    gone = 0
    while True:
        with db.session() as s:
            oldest = s.scalar(
                select(func.min(models.StatSample.at)).where(
                    models.StatSample.resolution == "raw", models.StatSample.at < cutoff
                )
            )
            if oldest is None:
                return gone
            until = min(cutoff, hour_of(oldest) + CHUNK)
            gone += _downsample_until(s, until)


def _downsample_until(s: Session, until: datetime) -> int:
    raw = (models.StatSample.resolution == "raw", models.StatSample.at < until)
    groups: dict[tuple[str, datetime], list[models.StatSample]] = defaultdict(list)
    for row in s.scalars(select(models.StatSample).where(*raw)):
        groups[(row.course, hour_of(row.at))].append(row)
    for (course, hour), rows in groups.items():
        averages = {}
        for column in AVERAGED:
            values = [getattr(r, column) for r in rows if getattr(r, column) is not None]
            averages[column] = sum(values) / len(values) if values else None
        for column in ("servers", "kernels", "busy_kernels"):
            averages[column] = averages[column] or 0.0
        s.add(
            models.StatSample(
                at=hour, resolution="hour", course=course, samples=len(rows), **averages
            )
        )
    gone = delete(models.StatSample).where(*raw)
    result = s.execute(gone, execution_options={"synchronize_session": False})
    return cast(CursorResult[Any], result).rowcount or 0


def expire(db: Database, now: datetime, retention: timedelta) -> int:
    """Delete hourly samples and daily counts older than `retention`; rows deleted."""
    cutoff = now - retention
    with db.session() as s:
        hours = cast(
            CursorResult[Any],
            s.execute(
                delete(models.StatSample).where(
                    models.StatSample.resolution == "hour", models.StatSample.at < cutoff
                )
            ),
        ).rowcount
        days = cast(
            CursorResult[Any],
            s.execute(delete(models.StatDaily).where(models.StatDaily.day < cutoff.date())),
        ).rowcount
    return (hours or 0) + (days or 0)


def apply_retention(
    db: Database, now: datetime, raw_retention: timedelta, retention: timedelta
) -> None:
    downsample(db, now, raw_retention)
    expire(db, now, retention)
