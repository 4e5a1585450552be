"""Warm-ups in the database: planned, claimed by whoever runs them, what each did for
each student, and which servers the idle culler must leave alone.

Whoever runs a warm-up claims it first (`claim`: scheduled -> running, one winner),
so the service and a command never run the same one twice.
"""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update

from coursehub.core.errors import CoursehubError
from coursehub.core.times import utc
from coursehub.db import models
from coursehub.db.session import Database
from coursehub.warmup.plan import Plan
from coursehub.warmup.schedule import WarmTimes

SOURCES = ("course.yaml", "staff page", "command")
# outcomes of a student's row; the first two are servers a warm-up answers for
PROTECTED = ("warmed", "running")
OUTCOMES = ("planned", "warmed", "running", "failed", "memory", "no_account", "not_signed_in")
ACTIVE = ("scheduled", "running")
# The culler spares warmed servers this long past their stop time unless the service
# has looked at them by then: it decides used or unused, the culler does not race it.
SETTLE_GRACE = timedelta(minutes=2)
MAX_PLANNED = 20  # warm-ups planned ahead for one course (course.yaml's next one included)
KEEP = timedelta(days=180)  # finished warm-ups are kept this long, then forgotten
MAX_DETAIL = 300


class WarmupError(CoursehubError):
    """A warm-up that cannot be made or changed as asked; the message says why."""

    exit_code = 2


@dataclass(frozen=True)
class WarmServerInfo:
    username: str
    outcome: str
    detail: str
    started_at: datetime | None
    settled: str


@dataclass(frozen=True)
class WarmUpInfo:
    id: int
    course: str
    class_starts_at: datetime
    begins_at: datetime
    unused_stop_at: datetime
    source: str
    requested_by: str
    state: str
    runner: str
    message: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    settled_at: datetime | None
    servers: tuple[WarmServerInfo, ...] = field(default=())

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(s.outcome for s in self.servers)

    @property
    def settled(self) -> Counter[str]:
        return Counter(s.settled for s in self.servers if s.settled)

    def named(self, outcome: str) -> list[str]:
        return [s.username for s in self.servers if s.outcome == outcome]

    @classmethod
    def of(cls, row: models.WarmUp, servers: Iterable[models.WarmServer] = ()) -> WarmUpInfo:
        return cls(
            id=row.id,
            course=row.course,
            class_starts_at=utc(row.class_starts_at),
            begins_at=utc(row.begins_at),
            unused_stop_at=utc(row.unused_stop_at),
            source=row.source,
            requested_by=row.requested_by,
            state=row.state,
            runner=row.runner,
            message=row.message,
            created_at=utc(row.created_at),
            started_at=utc(row.started_at),
            finished_at=utc(row.finished_at),
            settled_at=utc(row.settled_at),
            servers=tuple(
                WarmServerInfo(s.username, s.outcome, s.detail, utc(s.started_at), s.settled)
                for s in sorted(servers, key=lambda s: s.username)
            ),
        )


class WarmupStore:
    def __init__(self, db: Database):
        self.db = db

    # --- planning ----------------------------------------------------------------

    def create(
        self,
        course: str,
        times: WarmTimes,
        source: str,
        requested_by: str = "",
        runner: str = "",
    ) -> WarmUpInfo:
        """A new warm-up of `course`; with a `runner` it is claimed at once (a command
        that runs it now), else it waits for the service."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        now = datetime.now(UTC)
        with self.db.session() as s:
            if s.get(models.Course, course) is None:
                raise WarmupError(f"no course named {course!r}")
            planned = s.scalar(
                select(func.count())
                .select_from(models.WarmUp)
                .where(models.WarmUp.course == course)
                .where(models.WarmUp.state == "scheduled")
            )
            if not runner and (planned or 0) >= MAX_PLANNED:
                raise WarmupError(
                    f"{course} already has {planned} warm-ups planned, the most there may be: "
                    "cancel some first"
                )
            row = models.WarmUp(
                course=course,
                class_starts_at=times.class_starts_at,
                begins_at=times.begins_at,
                unused_stop_at=times.unused_stop_at,
                source=source,
                requested_by=requested_by[:64],
                state="running" if runner else "scheduled",
                runner=runner,
                started_at=now if runner else None,
            )
            s.add(row)
            s.flush()
            return WarmUpInfo.of(row)

    def sync_lecture(self, course: str, times: WarmTimes | None) -> WarmUpInfo | None:
        """Make course.yaml's next lecture a scheduled warm-up (once: one that exists
        for that class, whatever its state, is left as it is), and drop scheduled ones
        of lectures the file no longer lists. The new warm-up, if one was made."""
        with self.db.session() as s:
            stale = (
                delete(models.WarmUp)
                .where(models.WarmUp.course == course)
                .where(models.WarmUp.source == "course.yaml")
                .where(models.WarmUp.state == "scheduled")
            )
            if times is not None:
                stale = stale.where(models.WarmUp.class_starts_at != times.class_starts_at)
            s.execute(stale)
            if times is None:
                return None
            exists = s.scalar(
                select(func.count())
                .select_from(models.WarmUp)
                .where(models.WarmUp.course == course)
                .where(models.WarmUp.source == "course.yaml")
                .where(models.WarmUp.class_starts_at == times.class_starts_at)
            )
            if exists:
                return None
        return self.create(course, times, "course.yaml")

    def cancel(self, course: str, warmup_id: int) -> str:
        """Cancel a warm-up of `course`: one not begun never runs; of one that ran,
        the servers nobody used are stopped now (at the service's next look) and the
        idle culler no longer spares them. What was done, as a sentence."""
        now = datetime.now(UTC)
        with self.db.session() as s:
            row = s.get(models.WarmUp, warmup_id)
            if row is None or row.course != course:
                raise WarmupError(f"{course} has no warm-up {warmup_id}")
            if row.state == "scheduled":
                row.state = "cancelled"
                row.finished_at = now
                row.message = "Cancelled before it began."
                return "The warm-up was cancelled; it will not run."
            if row.settled_at is not None:
                raise WarmupError("this warm-up is over: its unused servers were already stopped")
            if row.state == "done" and not s.scalar(
                select(func.count())
                .select_from(models.WarmServer)
                .where(models.WarmServer.warmup_id == warmup_id)
                .where(models.WarmServer.outcome.in_(PROTECTED))
            ):
                row.settled_at = now
                return "It had started no server; nothing to stop."
            row.unused_stop_at = min(utc(row.unused_stop_at), now)
            if row.state == "running":
                row.message = "Cancelled while it ran."
            return "The servers it started that nobody used are being stopped."

    # --- running -----------------------------------------------------------------

    def due(self, now: datetime) -> builtins.list[int]:
        """Scheduled warm-ups whose time to begin has come, oldest first."""
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(models.WarmUp.id)
                    .where(models.WarmUp.state == "scheduled")
                    .where(models.WarmUp.begins_at <= now)
                    .order_by(models.WarmUp.begins_at, models.WarmUp.id)
                )
            )

    def claim(self, warmup_id: int, runner: str) -> bool:
        """Take a scheduled warm-up to run; False when someone else has (or it was
        cancelled)."""
        with self.db.session() as s:
            done = s.execute(
                update(models.WarmUp)
                .where(models.WarmUp.id == warmup_id)
                .where(models.WarmUp.state == "scheduled")
                .values(state="running", runner=runner, started_at=datetime.now(UTC))
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def record_plan(self, warmup_id: int, course: str, plan: Plan) -> None:
        rows = [
            *((n, "planned", "") for n in plan.warm),
            *((n, "memory", "beyond what memory allows") for n in plan.memory),
            *((n, "running", "") for n in plan.running),
            *((n, "no_account", "no account until their first sign-in") for n in plan.no_account),
            *((n, "not_signed_in", "the hub learns them at their first sign-in")
              for n in plan.not_signed_in),
        ]  # fmt: skip
        with self.db.session() as s:
            s.execute(delete(models.WarmServer).where(models.WarmServer.warmup_id == warmup_id))
            s.add_all(
                models.WarmServer(
                    warmup_id=warmup_id, username=name, course=course, outcome=outcome, detail=why
                )
                for name, outcome, why in rows
            )

    def record(
        self,
        warmup_id: int,
        username: str,
        outcome: str,
        detail: str = "",
        started_at: datetime | None = None,
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        with self.db.session() as s:
            row = s.get(models.WarmServer, (warmup_id, username))
            if row is None:
                return
            row.outcome = outcome
            row.detail = detail[:MAX_DETAIL]
            row.started_at = started_at

    def finish(self, warmup_id: int, state: str, message: str) -> None:
        with self.db.session() as s:
            row = s.get(models.WarmUp, warmup_id)
            if row is None:
                return
            row.state = state
            row.message = message
            row.finished_at = datetime.now(UTC)

    def interrupted(self, runner: str) -> builtins.list[int]:
        """Warm-ups `runner` was running when it stopped (the service restarting): ended
        as failed; the servers they had started are still stopped later if unused."""
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(models.WarmUp)
                    .where(models.WarmUp.state == "running")
                    .where(models.WarmUp.runner == runner)
                )
            )
            for row in rows:
                row.state = "failed"
                row.message = "Interrupted: the service restarted while it ran."
                row.finished_at = datetime.now(UTC)
                s.execute(
                    update(models.WarmServer)
                    .where(models.WarmServer.warmup_id == row.id)
                    .where(models.WarmServer.outcome == "planned")
                    .values(outcome="failed", detail="not started: the service restarted")
                )
            return [r.id for r in rows]

    # --- after the class ---------------------------------------------------------

    def to_settle(self, now: datetime) -> builtins.list[int]:
        """Warm-ups whose time to stop unused servers has come."""
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(models.WarmUp.id)
                    .where(models.WarmUp.state.in_(("done", "failed")))
                    .where(models.WarmUp.settled_at.is_(None))
                    .where(models.WarmUp.unused_stop_at <= now)
                    .order_by(models.WarmUp.unused_stop_at)
                )
            )

    def mark_settled(self, warmup_id: int, username: str, settled: str) -> None:
        with self.db.session() as s:
            row = s.get(models.WarmServer, (warmup_id, username))
            if row is not None:
                row.settled = settled
                row.settled_at = datetime.now(UTC)

    def settled(self, warmup_id: int) -> None:
        with self.db.session() as s:
            row = s.get(models.WarmUp, warmup_id)
            if row is not None:
                row.settled_at = datetime.now(UTC)

    def next_due(self, now: datetime) -> datetime | None:
        """The next moment something is to be done: a warm-up to begin, or unused
        servers to stop."""
        with self.db.session() as s:
            begin = s.scalar(
                select(func.min(models.WarmUp.begins_at)).where(models.WarmUp.state == "scheduled")
            )
            stop = s.scalar(
                select(func.min(models.WarmUp.unused_stop_at))
                .where(models.WarmUp.state.in_(("done", "failed")))
                .where(models.WarmUp.settled_at.is_(None))
            )
        found = [utc(t) for t in (begin, stop) if t is not None]
        return min(found) if found else None

    def protected(self, now: datetime) -> dict[tuple[str, str], datetime]:
        """(student, course) -> until when the idle culler leaves that server alone: the
        servers a warm-up started or found running, until the service has stopped its
        unused ones (at the latest SETTLE_GRACE after the time to)."""
        query = (
            select(
                models.WarmServer.username, models.WarmServer.course, models.WarmUp.unused_stop_at
            )
            .join(models.WarmUp, models.WarmUp.id == models.WarmServer.warmup_id)
            .where(models.WarmServer.outcome.in_(PROTECTED))
            .where(models.WarmServer.settled == "")
            .where(models.WarmUp.state.in_(("running", "done", "failed")))
            .where(models.WarmUp.settled_at.is_(None))
            .where(models.WarmUp.unused_stop_at > now - SETTLE_GRACE)
        )
        found: dict[tuple[str, str], datetime] = {}
        with self.db.session() as s:
            for username, course, stop_at in s.execute(query):
                key, until = (username, course), utc(stop_at) + SETTLE_GRACE
                found[key] = max(found.get(key, until), until)
        return found

    def forget_old(self, now: datetime) -> int:
        """Forget warm-ups over for longer than KEEP (with what they did per student)."""
        with self.db.session() as s:
            old = list(
                s.scalars(
                    select(models.WarmUp.id)
                    .where(models.WarmUp.state.not_in(ACTIVE))
                    .where(models.WarmUp.created_at < now - KEEP)
                    .where(models.WarmUp.class_starts_at < now - KEEP)
                )
            )
            if old:
                s.execute(delete(models.WarmServer).where(models.WarmServer.warmup_id.in_(old)))
                s.execute(delete(models.WarmUp).where(models.WarmUp.id.in_(old)))
            return len(old)

    # --- reading -----------------------------------------------------------------

    def get(self, warmup_id: int) -> WarmUpInfo | None:
        with self.db.session() as s:
            row = s.get(models.WarmUp, warmup_id)
            if row is None:
                return None
            servers = s.scalars(
                select(models.WarmServer).where(models.WarmServer.warmup_id == warmup_id)
            )
            return WarmUpInfo.of(row, servers)

    def of_course(self, course: str, limit: int = 10) -> builtins.list[WarmUpInfo]:
        """The course's warm-ups still to come (soonest first), then the latest others."""
        with self.db.session() as s:
            upcoming = list(
                s.scalars(
                    select(models.WarmUp)
                    .where(models.WarmUp.course == course)
                    .where(models.WarmUp.state.in_(ACTIVE))
                    .order_by(models.WarmUp.begins_at)
                    .limit(limit)
                )
            )
            past = list(
                s.scalars(
                    select(models.WarmUp)
                    .where(models.WarmUp.course == course)
                    .where(models.WarmUp.state.not_in(ACTIVE))
                    .order_by(models.WarmUp.created_at.desc(), models.WarmUp.id.desc())
                    .limit(limit)
                )
            )
            rows = upcoming + past
            servers: dict[int, list[models.WarmServer]] = {r.id: [] for r in rows}
            if rows:
                for server in s.scalars(
                    select(models.WarmServer).where(models.WarmServer.warmup_id.in_(servers))
                ):
                    servers[server.warmup_id].append(server)
            return [WarmUpInfo.of(r, servers[r.id]) for r in rows]
