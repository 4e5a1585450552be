"""Which course notebooks each student has opened, and from which course version.

A row is written when a notebook link copies a notebook into a workspace (and
touched on every later open); resetting a notebook writes the new source hash.
The status a student sees compares three hashes: the course file when it was
copied, the course file now, and the student's file now.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import func, select

from coursehub.db import models
from coursehub.db.session import Database


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


class Status(StrEnum):
    NOT_OPENED = "not opened"
    OPENED = "opened"
    MODIFIED = "modified"
    MISSING = "not in your workspace"  # copied once, since deleted or renamed


@dataclass(frozen=True)
class NotebookStatus:
    path: str
    status: Status
    # The course has a newer version of this notebook than the one the copy started from.
    course_changed: bool = False
    last_opened_at: datetime | None = None

    @property
    def label(self) -> str:
        if self.course_changed and self.status is not Status.NOT_OPENED:
            return f"{self.status.value} · course version changed"
        return self.status.value


@dataclass(frozen=True)
class CopyRecord:
    path: str
    source_sha256: str
    copied_at: datetime
    last_opened_at: datetime
    opens: int


def status_of(
    path: str, record: CopyRecord | None, course_sha256: str | None, mine_sha256: str | None
) -> NotebookStatus:
    """The status shown for one notebook; `mine_sha256` is None when the student's
    file is not there, `course_sha256` None when the course dropped the notebook."""
    if record is None:
        return NotebookStatus(path, Status.NOT_OPENED)
    changed = course_sha256 is not None and course_sha256 != record.source_sha256
    if mine_sha256 is None:
        status = Status.MISSING
    elif mine_sha256 == record.source_sha256:
        status = Status.OPENED
    else:
        status = Status.MODIFIED
    return NotebookStatus(path, status, changed, record.last_opened_at)


def _new_copy(
    course: str, username: str, path: str, source_sha256: str, *, opens: int
) -> models.NotebookCopy:
    now = models.utcnow()
    return models.NotebookCopy(
        course=course,
        username=username,
        path=path,
        source_sha256=source_sha256,
        copied_at=now,
        first_opened_at=now,
        last_opened_at=now,
        opens=opens,
    )


class ProgressStore:
    """Notebook copies in the coursehub database."""

    def __init__(self, db: Database):
        self.db = db

    def record_open(self, course: str, username: str, path: str, source_sha256: str | None) -> None:
        """Note an open; `source_sha256` is the copied file's hash when this open made
        the copy (first open, or after the student deleted theirs), else None."""
        now = models.utcnow()
        with self.db.session() as s:
            row = s.get(models.NotebookCopy, (course, username, path))
            if row is None:
                # No source: the file was there before coursehub copied anything (the
                # student made it), so there is no course version to compare with.
                if source_sha256 is not None:
                    s.add(_new_copy(course, username, path, source_sha256, opens=1))
                return
            row.last_opened_at = now
            row.opens += 1
            if source_sha256 is not None:
                row.source_sha256 = source_sha256
                row.copied_at = now

    def record_reset(self, course: str, username: str, path: str, source_sha256: str) -> None:
        now = models.utcnow()
        with self.db.session() as s:
            row = s.get(models.NotebookCopy, (course, username, path))
            if row is None:
                s.add(_new_copy(course, username, path, source_sha256, opens=0))
            else:
                row.source_sha256 = source_sha256
                row.copied_at = now

    def copies(self, course: str, username: str) -> dict[str, CopyRecord]:
        query = select(models.NotebookCopy).where(
            models.NotebookCopy.course == course, models.NotebookCopy.username == username
        )
        with self.db.session() as s:
            return {
                r.path: CopyRecord(r.path, r.source_sha256, r.copied_at, r.last_opened_at, r.opens)
                for r in s.scalars(query)
            }

    def open_counts(self, course: str, usernames: Iterable[str]) -> dict[str, int]:
        """Per notebook path: how many of `usernames` have opened it."""
        names = list(usernames)
        if not names:
            return {}
        query = (
            select(models.NotebookCopy.path, func.count())
            .where(models.NotebookCopy.course == course)
            .where(models.NotebookCopy.username.in_(names))
            .group_by(models.NotebookCopy.path)
        )
        with self.db.session() as s:
            return {path: int(n) for path, n in s.execute(query)}

    def activity(self, course: str) -> dict[str, tuple[int, datetime]]:
        """Per student: how many notebooks they opened, and when they last opened one."""
        query = (
            select(
                models.NotebookCopy.username,
                func.count(),
                func.max(models.NotebookCopy.last_opened_at),
            )
            .where(models.NotebookCopy.course == course)
            .group_by(models.NotebookCopy.username)
        )
        with self.db.session() as s:
            return {name: (int(n), last) for name, n, last in s.execute(query)}
