"""Events in the coursehub database: batched inserts, filtered pages, bounded size."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select
from sqlalchemy.orm import Session

from coursehub.db import models
from coursehub.db.session import Database
from coursehub.events.schema import EventIn, EventOut


@dataclass(frozen=True)
class EventFilter:
    type: str | None = None
    user: str | None = None
    course: str | None = None
    filename: str | None = None
    path: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_id: int = 0  # the page cursor: only events with a larger id


def event_rows(events: list[EventIn], username: str, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "type": e.type,
            "username": username,
            "course": e.course,
            "filename": e.filename,
            "path": e.path,
            "timestamp": e.timestamp or now,
            "received_at": now,
            "data": json.dumps(e.data, separators=(",", ":")),
        }
        for e in events
    ]


def insert_events(s: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows` in one round trip; their ids, in order (RETURNING keeps it)."""
    result = s.execute(
        insert(models.Event).returning(models.Event.id, sort_by_parameter_order=True), rows
    )
    return [row[0] for row in result]


class EventStore:
    def __init__(self, db: Database):
        self.db = db

    def add(self, events: list[EventIn], username: str) -> list[int]:
        """Store `events` as `username`'s (the caller checked they may); their ids."""
        with self.db.session() as s:
            return insert_events(s, event_rows(events, username, models.utcnow()))

    def query(self, f: EventFilter, limit: int) -> list[EventOut]:
        q = select(models.Event).where(models.Event.id > f.after_id)
        for column, value in (
            (models.Event.type, f.type),
            (models.Event.username, f.user),
            (models.Event.course, f.course),
            (models.Event.filename, f.filename),
            (models.Event.path, f.path),
        ):
            if value is not None:
                q = q.where(column == value)
        if f.since is not None:
            q = q.where(models.Event.timestamp >= f.since)
        if f.until is not None:
            q = q.where(models.Event.timestamp < f.until)
        q = q.order_by(models.Event.id).limit(limit)
        with self.db.session() as s:
            return [
                EventOut(
                    id=r.id,
                    type=r.type,
                    user=r.username,
                    course=r.course,
                    filename=r.filename,
                    path=r.path,
                    timestamp=r.timestamp,
                    received_at=r.received_at,
                    data=json.loads(r.data or "{}"),
                )
                for r in s.scalars(q)
            ]

    def purge(self, older_than: datetime, max_rows: int) -> int:
        """Drop events received before `older_than`, then the oldest beyond `max_rows`."""
        with self.db.session() as s:
            gone = cast(
                CursorResult[Any],
                s.execute(delete(models.Event).where(models.Event.received_at < older_than)),
            ).rowcount
            newest = s.scalar(select(func.max(models.Event.id)))
            if newest is not None and max_rows > 0:
                # ids grow with arrival: keeping the newest max_rows means a cut-off id
                cut = s.scalar(
                    select(models.Event.id)
                    .order_by(models.Event.id.desc())
                    .offset(max_rows)
                    .limit(1)
                )
                if cut is not None:
                    gone += cast(
                        CursorResult[Any],
                        s.execute(delete(models.Event).where(models.Event.id <= cut)),
                    ).rowcount
        return gone or 0
