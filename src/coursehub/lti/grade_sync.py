"""Scores to the LMS through an outbox (LtiGradeSync): one row per LMS course, assignment
and student holding the latest score, queued when it changes and sent by a sender
that retries what the LMS could not take yet. A restart loses nothing: rows stay
queued, and a row left "sending" by a stopped sender is taken again after a lease."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from coursehub.db.models import (
    Assignment,
    Grading,
    LtiContext,
    LtiGradeSync,
    ManualGrade,
    Submission,
)
from coursehub.db.session import Database
from coursehub.grading.gradebook import combine
from coursehub.grading.workers import Graded, ScoreListener
from coursehub.lti.ags import AgsContext, ScorePost, send_score
from coursehub.lti.identities import IdentityStore
from coursehub.lti.platforms import PlatformStore
from coursehub.lti.service_token import LmsCallError, ServiceTokens

log = logging.getLogger("coursehub.lti")

REMOTE_PREFIX = "lms+"  # courses of the remote grading API: the LMS has those scores
FIRST_DELAY = 30.0
MAX_DELAY = 3600.0
GIVE_UP_AFTER = 10
LEASE = timedelta(minutes=5)  # far longer than one send (a few calls of 30 s at most)
BATCH = 100
NOT_SENT = "not sent: "  # rows waiting for the student's LMS account start so
NO_IDENTITY = NOT_SENT + (
    "{user} has no account known to {platform} yet (they have not opened "
    "coursehub from the LMS, and no roster sync listed them)"
)


def is_remote(course: str) -> bool:
    return course.startswith(REMOTE_PREFIX)


@dataclass(frozen=True)
class CurrentScore:
    total: float
    max_total: float
    scored_at: datetime  # the grading's end, or the last change by hand if later
    pending_manual: bool


def current_score(db: Database, course: str, assignment: str, username: str) -> CurrentScore | None:
    """The student's score as the gradebook shows it (autograded points with staff's
    points by hand), from their latest submission; None when there is none yet."""
    with db.session() as s:
        a = s.scalar(
            select(Assignment).where(Assignment.course == course, Assignment.name == assignment)
        )
        if a is None:
            return None
        sub = s.scalar(
            select(Submission)
            .where(Submission.assignment_id == a.id, Submission.username == username)
            .order_by(Submission.attempt.desc())
            .limit(1)
        )
        if sub is None:
            return None
        grading = s.scalar(
            select(Grading)
            .where(Grading.submission_id == sub.id, Grading.state.in_(("done", "failed")))
            .order_by(Grading.id.desc())
            .limit(1)
        )
        manual = {
            m.question: m
            for m in s.scalars(select(ManualGrade).where(ManualGrade.submission_id == sub.id))
        }
        _points, total, pending = combine(grading, manual, json.loads(a.questions or "[]"))
        if total is None or grading is None:
            return None
        times = [grading.finished_at or grading.requested_at]
        times += [m.updated_at for m in manual.values()]
        return CurrentScore(total, a.max_points, max(t for t in times if t), pending)


def _score_contexts(db: Database, course: str) -> list[LtiContext]:
    with db.session() as s:
        rows = s.scalars(
            select(LtiContext).where(LtiContext.course == course).order_by(LtiContext.id)
        )
        return [r for r in rows if _ags(r).can_post_scores()]


def _ags(row: LtiContext) -> AgsContext:
    try:
        scopes = json.loads(row.ags_scopes or "[]")
    except ValueError:
        scopes = []
    scopes = tuple(x for x in scopes if isinstance(x, str)) if isinstance(scopes, list) else ()
    return AgsContext(row.id, row.ags_lineitems_url or "", scopes)


def enqueue_for(
    db: Database,
    course: str,
    assignment: str,
    username: str,
    *,
    grade_passback: bool = True,
    force: bool = False,
) -> int:
    """Queue the student's current score for every LMS course linked to `course` that
    takes scores; returns how many rows now wait to be sent. An unchanged score that
    was sent or is on its way is left alone unless `force` (resend). A student with
    no account on that LMS gets a failed row that says so."""
    if not grade_passback or is_remote(course):
        return 0
    contexts = _score_contexts(db, course)
    if not contexts:
        return 0
    score = current_score(db, course, assignment, username)
    if score is None:
        return 0
    identities, platforms = IdentityStore(db), PlatformStore(db)
    queued = 0
    for ctx in contexts:
        problem = ""
        if identities.subject_of(ctx.platform_id, username) is None:
            platform = platforms.get(ctx.platform_id)
            name = platform.name if platform else "the LMS"
            problem = NO_IDENTITY.format(user=username, platform=name)[:300]
        queued += _upsert(db, ctx.id, course, assignment, username, score, problem, force)
    return queued


def _upsert(
    db: Database,
    context_pk: int,
    course: str,
    assignment: str,
    username: str,
    score: CurrentScore,
    problem: str,
    force: bool,
) -> int:
    now = datetime.now(UTC)
    for _ in range(3):  # a concurrent first insert of the same row: update it instead
        try:
            with db.session() as s:
                row = s.scalar(
                    select(LtiGradeSync).where(
                        LtiGradeSync.context_pk == context_pk,
                        LtiGradeSync.assignment == assignment,
                        LtiGradeSync.username == username,
                    )
                )
                if row is None:
                    row = LtiGradeSync(context_pk=context_pk, course=course, assignment=assignment)
                    row.username = username
                    s.add(row)
                elif (
                    not force
                    and not problem
                    and row.status in ("pending", "sending", "sent")
                    and row.score == score.total
                    and row.max_score == score.max_total
                    and row.scored_at == score.scored_at
                ):
                    return 0
                row.score, row.max_score, row.scored_at = (
                    score.total,
                    score.max_total,
                    score.scored_at,
                )
                row.status = "failed" if problem else "pending"
                row.last_error = problem
                row.attempts, row.next_try_at, row.updated_at = 0, now, now
            return 0 if problem else 1
        except IntegrityError:
            continue
    return 0


def requeue_course(db: Database, course: str, *, grade_passback: bool = True) -> int:
    """Queue every current score of the course again (all assignments, every student
    with a submission), sent ones included: `coursehub lti sync-grades` and the
    page's "Resend all". Returns how many rows wait to be sent."""
    if not grade_passback or is_remote(course) or not _score_contexts(db, course):
        return 0
    with db.session() as s:
        pairs = s.execute(
            select(Assignment.name, Submission.username)
            .join(Submission, Submission.assignment_id == Assignment.id)
            .where(Assignment.course == course)
            .distinct()
        ).all()
    return sum(
        enqueue_for(db, course, name, user, grade_passback=grade_passback, force=True)
        for name, user in sorted(pairs)
    )


def retry_new_identities(db: Database, course: str) -> int:
    """Queue again the scores that were not sent only because the student had no
    account on that LMS, now that they have one (after a roster sync or a launch)."""
    with db.session() as s:
        waiting = s.execute(
            select(LtiGradeSync.id, LtiGradeSync.username, LtiContext.platform_id)
            .join(LtiContext, LtiContext.id == LtiGradeSync.context_pk)
            .where(
                LtiGradeSync.course == course,
                LtiGradeSync.status == "failed",
                LtiGradeSync.last_error.startswith(NOT_SENT),
            )
        ).all()
    identities = IdentityStore(db)
    ready = [rid for rid, user, pid in waiting if identities.subject_of(pid, user) is not None]
    if ready:
        now = datetime.now(UTC)
        with db.session() as s:
            s.execute(
                update(LtiGradeSync)
                .where(LtiGradeSync.id.in_(ready), LtiGradeSync.status == "failed")
                .values(
                    status="pending", attempts=0, last_error="", next_try_at=now, updated_at=now
                )
            )
    return len(ready)


def score_listener(
    db: Database, *, grade_passback: bool = True, wake: Callable[[], None] | None = None
) -> ScoreListener:
    """A listener for GradingWorkers.listeners: queue the new score, wake the sender."""

    async def heard(news: Graded) -> None:
        if not grade_passback or is_remote(news.course):
            return
        queued = await asyncio.to_thread(
            enqueue_for, db, news.course, news.assignment, news.username
        )
        if queued and wake is not None:
            wake()

    return heard


# ---- the sender -------------------------------------------------------------


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed


@dataclass(frozen=True)
class _Claim:
    id: int
    stamp: datetime  # the row's updated_at while we hold it
    attempts: int


class _Failed(Exception):
    """Not sendable as it is: no retry until someone queues it again."""


def _due(now: datetime):  # noqa: ANN202 - an SQL condition
    return or_(
        and_(LtiGradeSync.status == "pending", LtiGradeSync.next_try_at <= now),
        and_(LtiGradeSync.status == "sending", LtiGradeSync.updated_at < now - LEASE),
    )


def _claim(db: Database, now: datetime) -> _Claim | None:
    """Take one due row (atomic across processes: the update names its old state)."""
    for _ in range(5):
        with db.session() as s:
            rid = s.scalar(
                select(LtiGradeSync.id).where(_due(now)).order_by(LtiGradeSync.next_try_at).limit(1)
            )
            if rid is None:
                return None
            stamp = datetime.now(UTC)
            taken = cast(
                CursorResult[Any],
                s.execute(
                    update(LtiGradeSync)
                    .where(LtiGradeSync.id == rid, _due(now))
                    .values(status="sending", updated_at=stamp, attempts=LtiGradeSync.attempts + 1)
                ),
            )
            if taken.rowcount == 1:
                return _Claim(rid, stamp, s.get_one(LtiGradeSync, rid).attempts)
    return None


def _send(db: Database, tokens: ServiceTokens, claim: _Claim) -> None:
    with db.session() as s:
        row = s.get(LtiGradeSync, claim.id)
        ctx = s.get(LtiContext, row.context_pk) if row else None
        a = row and s.scalar(
            select(Assignment).where(
                Assignment.course == row.course, Assignment.name == row.assignment
            )
        )
    if row is None or ctx is None or ctx.course != row.course:
        raise _Failed("the LMS course is no longer linked to this course")
    if not a or row.score is None:
        raise _Failed("the assignment or its score no longer exists")
    context = _ags(ctx)
    platform = PlatformStore(db).get(ctx.platform_id)
    if platform is None or not context.can_post_scores():
        raise _Failed("the LMS no longer takes scores from this course")
    subject = IdentityStore(db).subject_of(ctx.platform_id, row.username)
    if subject is None:
        raise _Failed(NO_IDENTITY.format(user=row.username, platform=platform.name))
    # Partial while a person still has to grade an answer (AGS PendingManual: "if a
    # score is present, it is partial and may be updated during manual grading"), an
    # automatic 0 included; final (FullyGraded) only once nothing waits. A score that
    # changed meanwhile is queued again and follows this one.
    current = current_score(db, row.course, row.assignment, row.username)
    partial = current is None or current.pending_manual
    progress = "PendingManual" if partial else "FullyGraded"
    post = ScorePost(subject, row.score, row.max_score, row.scored_at, progress)
    send_score(db, tokens, platform, context, a.name, a.title or a.name, a.max_points, post)


def _finish(db: Database, claim: _Claim, values: dict) -> bool:
    """Record the outcome unless the row was queued again meanwhile (then the new
    score goes out on the next pass)."""
    with db.session() as s:
        done = cast(
            CursorResult[Any],
            s.execute(
                update(LtiGradeSync)
                .where(
                    LtiGradeSync.id == claim.id,
                    LtiGradeSync.status == "sending",
                    LtiGradeSync.updated_at == claim.stamp,
                )
                .values(**values, updated_at=datetime.now(UTC))
            ),
        )
        return done.rowcount == 1


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: 30 s doubling up to an hour, or longer if the
    LMS asked for it (Retry-After, also capped)."""
    delay = min(FIRST_DELAY * 2 ** max(0, attempts - 1), MAX_DELAY)
    return max(delay, min(retry_after or 0.0, MAX_DELAY))


def send_due(
    db: Database, tokens: ServiceTokens, *, now: datetime | None = None, limit: int = BATCH
) -> SendReport:
    """One pass: send up to `limit` due scores. `now` decides what is due (tests
    pass a later time instead of waiting)."""
    now = now or datetime.now(UTC)
    report = SendReport()
    for _ in range(limit):
        claim = _claim(db, now)
        if claim is None:
            break
        try:
            _send(db, tokens, claim)
        except _Failed as exc:
            report.failed += _finish(db, claim, {"status": "failed", "last_error": str(exc)[:300]})
        except LmsCallError as exc:
            message = str(exc)[:300]
            if not exc.temporary:
                log.warning("the LMS refused score %s: %s", claim.id, message)
                report.failed += _finish(db, claim, {"status": "failed", "last_error": message})
            elif claim.attempts >= GIVE_UP_AFTER:
                gave_up = f"gave up after {claim.attempts} tries: {message}"[:300]
                report.failed += _finish(db, claim, {"status": "failed", "last_error": gave_up})
            else:
                later = now + timedelta(seconds=backoff(claim.attempts, exc.retry_after))
                values = {"status": "pending", "last_error": message, "next_try_at": later}
                report.retrying += _finish(db, claim, values)
        except Exception as exc:  # noqa: BLE001 - a bug or a database hiccup: retried, logged
            log.exception("sending score %s failed", claim.id)
            later = now + timedelta(seconds=backoff(claim.attempts))
            values = {"status": "pending", "last_error": f"internal error: {exc}"[:300]}
            report.retrying += _finish(db, claim, {**values, "next_try_at": later})
        else:
            values = {"status": "sent", "last_error": "", "sent_at": datetime.now(UTC)}
            report.sent += _finish(db, claim, values)
    return report


def next_due_in(db: Database, now: datetime | None = None) -> float | None:
    """Seconds until the next queued score is due (0 if one is), None if none waits."""
    now = now or datetime.now(UTC)
    with db.session() as s:
        soonest = s.scalar(
            select(LtiGradeSync.next_try_at)
            .where(LtiGradeSync.status == "pending")
            .order_by(LtiGradeSync.next_try_at)
            .limit(1)
        )
    return None if soonest is None else max(0.0, (soonest - now).total_seconds())


async def send_forever(
    db: Database, tokens: ServiceTokens, wake: asyncio.Event, interval: float = 60.0
) -> None:
    """The service's sender: a pass whenever a score is queued (`wake`), when a retry
    falls due, and at least every `interval` seconds (rows left by a stopped sender)."""
    while True:
        wake.clear()
        try:
            report = await asyncio.to_thread(send_due, db, tokens)
            if report.handled >= BATCH:
                continue  # more are waiting
            wait = await asyncio.to_thread(next_due_in, db)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - e.g. the database away: try again later
            log.exception("the LMS grade sender failed; trying again in %s s", interval)
            wait = interval
        timeout = interval if wait is None else min(interval, max(wait, 0.5))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)


# ---- what staff see ---------------------------------------------------------


@dataclass(frozen=True)
class SyncRow:
    username: str
    assignment: str
    score: float | None
    max_score: float
    status: str
    attempts: int
    last_error: str
    sent_at: datetime | None
    next_try_at: datetime | None
    context_pk: int


def sync_rows(db: Database, course: str, limit: int = 5000) -> list[SyncRow]:
    """The course's outbox, problems first, then by student and assignment."""
    order = {"failed": 0, "pending": 1, "sending": 2, "sent": 3}
    with db.session() as s:
        rows = s.scalars(
            select(LtiGradeSync)
            .where(LtiGradeSync.course == course)
            .order_by(LtiGradeSync.username, LtiGradeSync.assignment)
            .limit(limit)
        )
        found = [
            SyncRow(
                *(r.username, r.assignment, r.score, r.max_score, r.status, r.attempts),
                *(r.last_error, r.sent_at, r.next_try_at, r.context_pk),
            )
            for r in rows
        ]
    return sorted(found, key=lambda r: order.get(r.status, 4))
