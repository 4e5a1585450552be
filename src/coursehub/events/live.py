"""The live class view's memory: the latest state of each student's copy of each notebook.

Events are the history; this table is the present, one row per (course, notebook,
student), updated as events arrive, so the dashboard opens with one query and survives
a restart of the service.

Paths come from the student's own server, so the table is bounded: at most
`MAX_PER_STUDENT` rows per (course, student). Past that the rows updated longest ago
go, so the notebooks a student works on now are always there; a student who invents
paths only pushes out their own old rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coursehub.db import models
from coursehub.db.session import Database
from coursehub.events.schema import EventIn

STATUSES = ("not_started", "working", "error", "finished")
MAX_PER_STUDENT = 1000  # notebooks one student has in one course, with room to spare


@dataclass
class LiveState:
    """One student's copy of one notebook, as the dashboard shows it."""

    course: str
    path: str
    username: str
    opened_at: datetime | None = None
    saved_at: datetime | None = None
    sha256: str | None = None
    tail: dict[str, Any] | None = None
    ran_at: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None
    kernel: str | None = None
    updated_at: datetime | None = None
    fields_changed: set[str] = field(default_factory=set, compare=False, repr=False)

    @property
    def status(self) -> str:
        """One of STATUSES: what the dashboard's filters select on."""
        if self.opened_at is None and self.saved_at is None and self.ran_at is None:
            return "not_started"
        if self.error is not None:
            return "error"
        summary = (self.tail or {}).get("summary") or {}
        return "finished" if summary.get("finished") else "working"

    @property
    def error(self) -> str | None:
        """The error name of the last run, whichever tells more recently: a cell that
        just ran, or the last run cell of the last save."""
        summary = (self.tail or {}).get("summary") or {}
        ran, saved = self.ran_at, self.saved_at
        if ran is not None and (saved is None or ran >= saved):
            return (self.last_error or "Error") if self.last_status == "error" else None
        return summary.get("last_error")

    def as_json(self) -> dict[str, Any]:
        def iso(when: datetime | None) -> str | None:
            return when.isoformat() if when else None

        return {
            "user": self.username,
            "course": self.course,
            "path": self.path,
            "status": self.status,
            "error": self.error,
            "opened_at": iso(self.opened_at),
            "saved_at": iso(self.saved_at),
            "ran_at": iso(self.ran_at),
            "sha256": self.sha256,
            "kernel": self.kernel,
            "tail": self.tail,
        }


def _state(row: models.LiveNotebook) -> LiveState:
    return LiveState(
        course=row.course,
        path=row.path,
        username=row.username,
        opened_at=row.opened_at,
        saved_at=row.saved_at,
        sha256=row.sha256,
        tail=json.loads(row.tail) if row.tail else None,
        ran_at=row.ran_at,
        last_status=row.last_status,
        last_error=row.last_error,
        kernel=row.kernel,
        updated_at=row.updated_at,
    )


def _changes(events: Iterable[EventIn], now: datetime) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (course, path): the columns the events set, the latest event winning."""
    changes: dict[tuple[str, str], dict[str, Any]] = {}
    for e in events:
        if not e.course or not e.path:
            continue
        when = e.timestamp or now
        cols = changes.setdefault((e.course, e.path.lstrip("/")), {})
        if e.type == "notebook_opened":
            cols["opened_at"] = when
        elif e.type == "notebook_saved":
            cols["saved_at"] = when
            sha = e.data.get("sha256")
            cols["sha256"] = str(sha)[:64] if sha else None
            if e.tail is not None:
                cols["tail"] = e.tail.model_dump_json()
        elif e.type == "cell_executed":
            cols["ran_at"] = when
            status = "error" if e.data.get("status") == "error" else "ok"
            cols["last_status"] = status
            error = str(e.data.get("error") or "Error")[:200]
            cols["last_error"] = error if status == "error" else None
        elif e.type == "kernel_started":
            cols["kernel"] = "started"
        elif e.type == "kernel_died":
            cols["kernel"] = "died"
    return changes


def apply_in(
    s: Session, username: str, events: Iterable[EventIn], now: datetime
) -> list[LiveState]:
    """`LiveStore.apply` inside the caller's transaction."""
    out = []
    grown: set[str] = set()  # courses in which this student got new rows
    for (course, path), cols in _changes(events, now).items():
        row = s.scalar(
            select(models.LiveNotebook).where(
                models.LiveNotebook.course == course,
                models.LiveNotebook.path == path,
                models.LiveNotebook.username == username,
            )
        )
        if row is None:
            row = models.LiveNotebook(course=course, path=path, username=username)
            s.add(row)
            grown.add(course)
        for name, value in cols.items():
            setattr(row, name, value)
        row.updated_at = now
        s.flush()
        state = _state(row)
        state.fields_changed = set(cols)
        out.append(state)
    for course in grown:
        _evict(s, course, username)
    return out


def _evict(s: Session, course: str, username: str) -> None:
    """Drop the student's rows of `course` beyond the MAX_PER_STUDENT most recently
    updated."""
    keep = MAX_PER_STUDENT
    mine = (models.LiveNotebook.course == course) & (models.LiveNotebook.username == username)
    cut = s.scalar(
        select(models.LiveNotebook.id)
        .where(mine)
        .order_by(models.LiveNotebook.updated_at.desc(), models.LiveNotebook.id.desc())
        .offset(keep)
        .limit(1)
    )
    if cut is None:
        return
    old = (
        select(models.LiveNotebook.id)
        .where(mine)
        .order_by(models.LiveNotebook.updated_at.desc(), models.LiveNotebook.id.desc())
        .offset(keep)
    )
    s.execute(delete(models.LiveNotebook).where(models.LiveNotebook.id.in_(old)))


class LiveStore:
    def __init__(self, db: Database):
        self.db = db

    def apply(self, username: str, events: Iterable[EventIn]) -> list[LiveState]:
        """Fold `events` (already authorised as `username`'s) into the live table; the
        states that changed."""
        now = models.utcnow()
        try:
            with self.db.session() as s:
                return apply_in(s, username, events, now)
        except IntegrityError:
            # Two writers created the same row at once: the second one now updates it.
            with self.db.session() as s:
                return apply_in(s, username, events, now)

    def notebook(self, course: str, path: str) -> list[LiveState]:
        """Every student's state for one notebook of `course`."""
        with self.db.session() as s:
            rows = s.scalars(
                select(models.LiveNotebook).where(
                    models.LiveNotebook.course == course, models.LiveNotebook.path == path
                )
            )
            return [_state(r) for r in rows]

    def course(self, course: str) -> list[LiveState]:
        """Every (student, notebook) state of `course`."""
        with self.db.session() as s:
            rows = s.scalars(
                select(models.LiveNotebook).where(models.LiveNotebook.course == course)
            )
            return [_state(r) for r in rows]

    def one(self, course: str, path: str, username: str) -> LiveState | None:
        with self.db.session() as s:
            row = s.scalar(
                select(models.LiveNotebook).where(
                    models.LiveNotebook.course == course,
                    models.LiveNotebook.path == path,
                    models.LiveNotebook.username == username,
                )
            )
            return _state(row) if row else None
