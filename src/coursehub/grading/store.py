"""Assignments, submissions, the grading queue and grades, in the coursehub database.

Submission files live under the data directory (root only) in a folder named by the
submission's id; the row and the files are written in one step, and a retried request
(same client key) or a double click (same files within seconds) is the same submission.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coursehub.core.times import utc
from coursehub.courses.paths import PathRejected, check_relative_path
from coursehub.db.models import Assignment, Extension, Grading, ManualGrade, Submission
from coursehub.db.session import Database
from coursehub.grading.errors import AssignmentError, QueueFull, SubmissionError
from coursehub.grading.paths import GradingPaths, check_name, check_title, ensure_private

DOUBLE_CLICK = timedelta(seconds=10)
MAX_FILES = 500
MAX_BYTES = 50 * 1024 * 1024
# Attempts one student may store for one assignment: every attempt is kept (files
# too), so without a bound one student could fill the table and the disk.
MAX_ATTEMPTS = 100


@dataclass(frozen=True)
class Stored:
    submission: Submission
    duplicate: bool  # True: this request repeated an earlier one; nothing new was stored


class GradingStore:
    def __init__(self, db: Database, paths: GradingPaths) -> None:
        self.db = db
        self.paths = paths

    # ---- assignments -------------------------------------------------------

    def save_assignment(
        self,
        course: str,
        name: str,
        fmt: str,
        questions: list[dict[str, Any]],
        files: list[str],
        title: str = "",
        due_at: datetime | None = None,
        origin: str = "course",
    ) -> Assignment:
        check_name(name)
        title = check_title(title)
        max_points = sum(float(q["points"]) for q in questions)
        with self.db.session() as s:
            row = s.scalar(
                select(Assignment).where(Assignment.course == course, Assignment.name == name)
            )
            if row is None:
                row = Assignment(course=course, name=name)
                s.add(row)
            row.format = fmt
            row.questions = json.dumps(questions)
            row.files = json.dumps(files)
            row.max_points = max_points
            row.title = title or row.title or name
            row.origin = origin
            if due_at is not None:
                row.due_at = due_at
            row.updated_at = datetime.now(UTC)
            s.flush()
            if due_at is not None:
                _refresh_lateness(s, row.id)
            return row

    def get(self, course: str, name: str) -> Assignment:
        with self.db.session() as s:
            row = s.scalar(
                select(Assignment).where(Assignment.course == course, Assignment.name == name)
            )
        if row is None:
            raise AssignmentError(
                f"course {course} has no assignment {name!r} "
                f"(see: coursehub assignment list {course})"
            )
        return row

    def by_id(self, assignment_id: int) -> Assignment:
        with self.db.session() as s:
            row = s.get(Assignment, assignment_id)
        if row is None:
            raise AssignmentError(f"no assignment with id {assignment_id}")
        return row

    def assignments(self, course: str) -> list[Assignment]:
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(Assignment).where(Assignment.course == course).order_by(Assignment.id)
                )
            )

    def update_assignment(self, assignment_id: int, **changes: Any) -> int:
        """Change columns of one assignment; returns how many submissions changed
        lateness (a new due date measures them again)."""
        with self.db.session() as s:
            s.execute(
                update(Assignment)
                .where(Assignment.id == assignment_id)
                .values(**changes, updated_at=datetime.now(UTC))
            )
            if "due_at" in changes:
                return _refresh_lateness(s, assignment_id)
        return 0

    def edit_assignment(
        self,
        assignment_id: int,
        title: str | None = None,
        due_at: datetime | None = None,
        clear_due: bool = False,
    ) -> int:
        """Change the title and/or the due date, nothing else (questions, files and the
        released copy stay). A new due date is a correction: the lateness of submissions
        already made is measured again against it (or a student's extension). Returns
        how many submissions changed lateness."""
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = check_title(title) or self.by_id(assignment_id).name
        if due_at is not None or clear_due:
            changes["due_at"] = None if clear_due else due_at
        if not changes:
            return 0
        return self.update_assignment(assignment_id, **changes)

    def delete_assignment(self, course: str, name: str) -> None:
        row = self.get(course, name)
        with self.db.session() as s:
            s.delete(s.get(Assignment, row.id))
        for path in (
            self.paths.released(course, name),
            self.paths.data_dir / "submissions" / course / name,
        ):
            shutil.rmtree(path, ignore_errors=True)

    def grant_extension(self, assignment_id: int, username: str, due_at: datetime, by: str) -> None:
        with self.db.session() as s:
            row = s.get(Extension, (assignment_id, username))
            if row is None:
                s.add(
                    Extension(
                        assignment_id=assignment_id, username=username, due_at=due_at, granted_by=by
                    )
                )
            else:
                row.due_at, row.granted_by = due_at, by
            s.flush()
            _refresh_lateness(s, assignment_id, username)

    def due_for(self, assignment: Assignment, username: str) -> datetime | None:
        with self.db.session() as s:
            ext = s.get(Extension, (assignment.id, username))
        return ext.due_at if ext else assignment.due_at

    # ---- submissions -------------------------------------------------------

    def submit(
        self,
        assignment: Assignment,
        username: str,
        files: dict[str, bytes],
        origin: str = "workspace",
        client_key: str | None = None,
        now: datetime | None = None,
    ) -> Stored:
        """Store one attempt (immutable), timestamped here; flag it late."""
        if assignment.closed:
            raise SubmissionError(f"{assignment.name} is closed: submissions are no longer taken")
        if not files:
            raise SubmissionError("nothing to submit: the assignment folder has no files")
        if len(files) > MAX_FILES or sum(len(b) for b in files.values()) > MAX_BYTES:
            raise SubmissionError(
                f"a submission holds at most {MAX_FILES} files and {MAX_BYTES >> 20} MB"
            )
        for rel in files:
            try:
                check_relative_path(rel)
            except PathRejected as exc:
                raise SubmissionError(f"file name refused: {exc}") from None
        if client_key is not None and (len(client_key) > 64 or not client_key.isprintable()):
            raise SubmissionError("the submission key must be at most 64 printable characters")
        digest = hashlib.sha256()
        for rel in sorted(files):
            digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
        sha = digest.hexdigest()
        now = now or datetime.now(UTC)
        late = late_seconds(now, self.due_for(assignment, username))
        for _ in range(20):
            existing = self._same_key(assignment.id, username, client_key)
            if existing is not None:
                return Stored(existing, True)
            try:
                return self._insert(assignment, username, files, origin, client_key, sha, late, now)
            except IntegrityError:
                continue  # a concurrent attempt took the number or the key: look again
        raise SubmissionError("too many submissions at the same moment; try again")

    def _same_key(self, assignment_id: int, username: str, key: str | None) -> Submission | None:
        if key is None:
            return None
        with self.db.session() as s:
            return s.scalar(
                select(Submission).where(
                    Submission.assignment_id == assignment_id,
                    Submission.username == username,
                    Submission.client_key == key,
                )
            )

    def _insert(
        self,
        assignment: Assignment,
        username: str,
        files: dict[str, bytes],
        origin: str,
        key: str | None,
        sha: str,
        late: int,
        now: datetime,
    ) -> Stored:
        """Insert the next attempt, unless the same work was sent a moment ago (a double
        click). The attempt number is read before looking for that twin: a twin that got
        a number below ours was committed before we read, so we see it; one that did not
        wants our number too, and the unique constraint makes the loser retry."""
        folder: Path | None = None
        try:
            with self.db.session() as s:
                # the row was read before the files were collected, which takes a
                # while: an assignment closed meanwhile (being deleted) takes nothing
                current = s.get(Assignment, assignment.id)
                if current is None or current.closed:
                    raise SubmissionError(
                        f"{assignment.name} is closed: submissions are no longer taken"
                    )
                mine = (Submission.assignment_id == assignment.id) & (
                    Submission.username == username
                )
                attempt = (s.scalar(select(func.max(Submission.attempt)).where(mine)) or 0) + 1
                twins = s.scalars(
                    select(Submission)
                    .where(mine, Submission.sha256 == sha)
                    .order_by(Submission.attempt.desc())
                    .limit(3)
                )
                for twin in twins:
                    if abs(now - twin.submitted_at) < DOUBLE_CLICK:
                        return Stored(twin, True)
                if attempt > MAX_ATTEMPTS:
                    raise SubmissionError(
                        f"{assignment.name} already has your {MAX_ATTEMPTS} submissions, the "
                        "most one student may make; ask the course's staff if you need another"
                    )
                row = Submission(
                    assignment_id=assignment.id,
                    username=username,
                    attempt=attempt,
                    submitted_at=now,
                    late_seconds=late,
                    sha256=sha,
                    size=sum(len(b) for b in files.values()),
                    files=json.dumps(sorted(files)),
                    origin=origin,
                    client_key=key,
                )
                s.add(row)
                s.flush()
                ensure_private(self.paths.data_dir / "submissions")
                folder = self.paths.submission(assignment.course, assignment.name, username, row.id)
                _write_files(folder, files)
            return Stored(row, False)
        except BaseException:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise

    def submission(self, sid: int) -> Submission:
        with self.db.session() as s:
            row = s.get(Submission, sid)
        if row is None:
            raise SubmissionError(f"no submission {sid}")
        return row

    def submissions(self, assignment_id: int, username: str | None = None) -> list[Submission]:
        query = select(Submission).where(Submission.assignment_id == assignment_id)
        if username is not None:
            query = query.where(Submission.username == username)
        with self.db.session() as s:
            return list(s.scalars(query.order_by(Submission.username, Submission.attempt)))

    def latest_submissions(self, assignment_id: int) -> list[Submission]:
        latest: dict[str, Submission] = {}
        for row in self.submissions(assignment_id):
            latest[row.username] = row
        return list(latest.values())

    def submission_files(self, row: Submission) -> Path:
        a = self.by_id(row.assignment_id)
        return self.paths.submission(a.course, a.name, row.username, row.id)

    # ---- the queue ---------------------------------------------------------

    def enqueue(
        self, submission_ids: list[int], requested_by: str, max_queued: int | None = None
    ) -> list[int]:
        with self.db.session() as s:
            if max_queued is not None:
                waiting = (
                    s.scalar(
                        select(func.count()).select_from(Grading).where(Grading.state == "queued")
                    )
                    or 0
                )
                if waiting + len(submission_ids) > max_queued:
                    raise QueueFull(f"{waiting} gradings are waiting (at most {max_queued})")
            rows = [Grading(submission_id=sid, requested_by=requested_by) for sid in submission_ids]
            s.add_all(rows)
            s.flush()
            return [r.id for r in rows]

    def waiting_count(self) -> int:
        """Gradings waiting for a worker (the number `enqueue` holds against max_queued)."""
        with self.db.session() as s:
            return (
                s.scalar(select(func.count()).select_from(Grading).where(Grading.state == "queued"))
                or 0
            )

    def queued_count(self) -> int:
        with self.db.session() as s:
            return (
                s.scalar(
                    select(func.count())
                    .select_from(Grading)
                    .where(Grading.state.in_(("queued", "running")))
                )
                or 0
            )

    def claim(self) -> Grading | None:
        """Take the oldest queued grading for this process (atomic across processes)."""
        for _ in range(5):
            with self.db.session() as s:
                gid = s.scalar(
                    select(Grading.id)
                    .where(Grading.state == "queued")
                    .order_by(Grading.id)
                    .limit(1)
                )
                if gid is None:
                    return None
                taken = cast(
                    CursorResult[Any],
                    s.execute(
                        update(Grading)
                        .where(Grading.id == gid, Grading.state == "queued")
                        .values(
                            state="running", started_at=datetime.now(UTC), tries=Grading.tries + 1
                        )
                    ),
                )
                if taken.rowcount == 1:
                    return s.get(Grading, gid)
        return None

    def requeue_interrupted(self) -> int:
        """Gradings left running by a stopped service go back to the queue."""
        with self.db.session() as s:
            failed = cast(
                CursorResult[Any],
                s.execute(
                    update(Grading)
                    .where(Grading.state == "running", Grading.tries >= 3)
                    .values(
                        state="failed", outcome="the grader stopped three times while grading this"
                    )
                ),
            ).rowcount
            return (
                failed
                + cast(
                    CursorResult[Any],
                    s.execute(
                        update(Grading).where(Grading.state == "running").values(state="queued")
                    ),
                ).rowcount
            )

    def finish(self, gid: int, **result: Any) -> None:
        with self.db.session() as s:
            s.execute(
                update(Grading)
                .where(Grading.id == gid)
                .values(finished_at=datetime.now(UTC), **result)
            )

    def grading(self, gid: int) -> Grading:
        with self.db.session() as s:
            row = s.get(Grading, gid)
        if row is None:
            raise SubmissionError(f"no grading {gid}")
        return row

    def gradings_of(self, sid: int) -> list[Grading]:
        """Every grading run of a submission, oldest first."""
        with self.db.session() as s:
            query = select(Grading).where(Grading.submission_id == sid).order_by(Grading.id)
            return list(s.scalars(query))

    def latest_grading(self, sid: int, finished: bool = True) -> Grading | None:
        query = select(Grading).where(Grading.submission_id == sid)
        if finished:
            query = query.where(Grading.state.in_(("done", "failed")))
        with self.db.session() as s:
            return s.scalar(query.order_by(Grading.id.desc()).limit(1))

    # ---- manual grades -----------------------------------------------------

    def set_manual(
        self, sid: int, question: str, points: float | None, comment: str, grader: str
    ) -> None:
        with self.db.session() as s:
            row = s.get(ManualGrade, (sid, question))
            if row is None:
                row = ManualGrade(submission_id=sid, question=question)
                s.add(row)
            row.points, row.comment, row.grader = points, comment[:5000], grader
            row.updated_at = datetime.now(UTC)

    def manual_grades(self, sid: int) -> dict[str, ManualGrade]:
        with self.db.session() as s:
            return {
                m.question: m
                for m in s.scalars(select(ManualGrade).where(ManualGrade.submission_id == sid))
            }


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    ensure_private(folder.parent)
    folder.mkdir(mode=0o700)
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _refresh_lateness(s: Session, assignment_id: int, username: str | None = None) -> int:
    """Measure the submissions of one assignment (of one student) again against the due
    date in force now: an extension given, or a due date corrected, after a student
    submitted decides whether that submission was late (as nbgrader's late penalty is
    decided at grading time). Times are compared as UTC moments, never as text."""
    assignment = s.get(Assignment, assignment_id)
    if assignment is None:
        return 0
    extended = {
        e.username: e.due_at
        for e in s.scalars(select(Extension).where(Extension.assignment_id == assignment_id))
    }
    query = select(Submission).where(Submission.assignment_id == assignment_id)
    if username is not None:
        query = query.where(Submission.username == username)
    changed = 0
    for sub in s.scalars(query):
        due = extended.get(sub.username, assignment.due_at)
        late = late_seconds(sub.submitted_at, due)
        if sub.late_seconds != late:
            sub.late_seconds = late
            changed += 1
    return changed


def late_seconds(submitted_at: datetime, due: datetime | None) -> int:
    """How late a submission is (0: on time, or no due date)."""
    if due is None:
        return 0
    return max(0, int((utc(submitted_at) - utc(due)).total_seconds()))
