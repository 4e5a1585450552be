"""Runaway kernels: the monitor's record of how long each kernel has been busy.

Each census updates coursehub_kernel_watch: a kernel first seen busy gets
`busy_since`, one seen not busy loses it, and rows of kernels or servers that are
gone are deleted (so the table holds at most the running kernels). A server that did
not answer keeps its rows as they were; without a census nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from coursehub.db import models
from coursehub.db.session import Database
from coursehub.monitor.census import ServerState


@dataclass(frozen=True)
class WatchedKernel:
    username: str
    course: str
    kernel_id: str
    kernel_name: str
    execution_state: str
    busy_since: datetime | None
    last_seen: datetime


def update_watch(db: Database, census: list[ServerState] | None, now: datetime) -> None:
    """Bring the watch rows in line with one census (see the module doc)."""
    if census is None:
        return
    running = {(s.username, s.course): s for s in census}
    with db.session() as s:
        rows = s.scalars(select(models.KernelWatch)).all()
        known = {(r.username, r.course, r.kernel_id): r for r in rows}
        for key, watched in known.items():
            server = running.get(key[:2])
            if server is None:
                s.delete(watched)  # the server stopped
            elif server.kernels is not None and key[2] not in {k.id for k in server.kernels}:
                s.delete(watched)  # the kernel was shut down
        for server in census:
            for kernel in server.kernels or ():
                row = known.get((server.username, server.course, kernel.id))
                if row is None:
                    row = models.KernelWatch(
                        username=server.username, course=server.course, kernel_id=kernel.id
                    )
                    s.add(row)
                busy = kernel.execution_state == "busy"
                if busy and row.busy_since is None:
                    row.busy_since = now
                elif not busy:
                    row.busy_since = None
                row.kernel_name = kernel.name
                row.execution_state = kernel.execution_state
                row.last_seen = now


def watched(db: Database, course: str) -> list[WatchedKernel]:
    """Every watched kernel of the course's servers."""
    with db.session() as s:
        rows = s.scalars(
            select(models.KernelWatch)
            .where(models.KernelWatch.course == course)
            .order_by(models.KernelWatch.username, models.KernelWatch.kernel_id)
        ).all()
        return [
            WatchedKernel(
                username=r.username,
                course=r.course,
                kernel_id=r.kernel_id,
                kernel_name=r.kernel_name,
                execution_state=r.execution_state,
                busy_since=r.busy_since,
                last_seen=r.last_seen or datetime.now(UTC),
            )
            for r in rows
        ]


def runaway(
    db: Database, course: str, older_than: timedelta, now: datetime | None = None
) -> list[WatchedKernel]:
    """The course's kernels busy without a break for at least `older_than`."""
    if older_than.total_seconds() <= 0:
        return []  # runaway_after 0: never reported
    limit = (now or datetime.now(UTC)) - older_than
    return [k for k in watched(db, course) if k.busy_since is not None and k.busy_since <= limit]


def forget_server(db: Database, username: str, course: str) -> None:
    """Drop the rows of a server stopped from the staff page (the next census would)."""
    with db.session() as s:
        s.execute(
            delete(models.KernelWatch).where(
                models.KernelWatch.username == username, models.KernelWatch.course == course
            )
        )


def recorder(db: Database) -> Callable[[list[ServerState] | None, datetime], None]:
    def record(census: list[ServerState] | None, now: datetime) -> None:
        update_watch(db, census, now)

    return record
