"""Notebook events added up into per-day counts (StatDaily), which outlive the events.

Events are read in id order after a cursor (StatCursor); each batch's counts and the
moved cursor are committed in one transaction, so a crash or a second roll-up running
at the same time never counts an event twice. On PostgreSQL an insert that got a
smaller id may commit a moment after a larger one, so only events received more than
`SETTLE` ago are read there (SQLite commits its writers one at a time). Staff are not
filtered here (roles change): the reports leave them out.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coursehub.db import models
from coursehub.db.session import Database

CURSOR = "events_daily"
BATCH = 2000
SETTLE = timedelta(seconds=30)
# event type -> StatDaily column it counts into; other types only move the cursor
COUNTED = {
    "notebook_opened": "opens",
    "notebook_saved": "saves",
    "cell_executed": "executions",
}
Key = tuple[str, date, str, str]  # course, day, username, path


def utc_day(when: datetime) -> date:
    """The UTC day of `when` (naive values, as SQLite returns them, are UTC)."""
    if when.tzinfo is None:
        return when.date()
    return when.astimezone(UTC).date()


def roll_up(db: Database, batch: int = BATCH) -> int:
    """Count every event not counted yet; how many events were read."""
    _ensure_cursor(db)
    settled = None
    if db.engine.dialect.name != "sqlite":
        settled = models.utcnow() - SETTLE
    total = 0
    while True:
        read = _roll_up_batch(db, batch, settled)
        total += read
        if read < batch:
            return total


def _ensure_cursor(db: Database) -> None:
    try:
        with db.session() as s:
            if s.get(models.StatCursor, CURSOR) is None:
                s.add(models.StatCursor(name=CURSOR, position=0))
    except IntegrityError:  # made at the same moment by another roll-up
        pass


def _roll_up_batch(db: Database, batch: int, settled: datetime | None) -> int:
    with db.session() as s:
        # Writing the cursor row first takes its lock (a row lock on PostgreSQL, the
        # write lock on SQLite): a concurrent roll-up waits here, then reads the
        # position this one committed.
        s.execute(
            update(models.StatCursor)
            .where(models.StatCursor.name == CURSOR)
            .values(updated_at=models.utcnow())
        )
        position = s.scalar(
            select(models.StatCursor.position).where(models.StatCursor.name == CURSOR)
        )
        query = select(
            models.Event.id,
            models.Event.type,
            models.Event.course,
            models.Event.username,
            models.Event.path,
            models.Event.timestamp,
            models.Event.received_at,
        ).where(models.Event.id > (position or 0))
        rows = s.execute(query.order_by(models.Event.id).limit(batch)).all()
        read = len(rows)
        if settled is not None:  # stop at the first event that may have company still
            fresh = next((i for i, r in enumerate(rows) if r[-1] >= settled), None)
            if fresh is not None:
                rows, read = rows[:fresh], 0  # 0: nothing more to read this time
        if not rows:
            return 0
        counts: dict[Key, dict[str, int]] = defaultdict(
            lambda: {"opens": 0, "saves": 0, "executions": 0}
        )
        for _id, type_, course, username, path, timestamp, _received in rows:
            column = COUNTED.get(type_)
            if column is None or not course or not path:
                continue
            counts[(course, utc_day(timestamp), username, path)][column] += 1
        _add_counts(s, counts)
        s.execute(
            update(models.StatCursor)
            .where(models.StatCursor.name == CURSOR)
            .values(position=rows[-1][0])
        )
        return read


def _add_counts(s: Session, counts: dict[Key, dict[str, int]]) -> None:
    if not counts:
        return
    table = models.StatDaily.__table__
    dialect = s.get_bind().dialect.name
    make_insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = [
        {"course": c, "day": d, "username": u, "path": p, **n} for (c, d, u, p), n in counts.items()
    ]
    stmt = make_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["course", "day", "username", "path"],
        set_={col: table.c[col] + stmt.excluded[col] for col in ("opens", "saves", "executions")},
    )
    s.execute(stmt, values)
