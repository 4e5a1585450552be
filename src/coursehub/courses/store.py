"""Courses and enrolments: rows in the coursehub database plus a git checkout each.

A course's files live at ``<data_dir>/courses/<name>/repo``. Methods return frozen
snapshots (``CourseInfo``, ``Enrolment``) that stay usable after the session closed;
``CourseInfo.repo_url`` is redacted, so a snapshot is safe to log or render.
"""

from __future__ import annotations

import builtins
import fcntl
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coursehub.accounts.roster import validate_username
from coursehub.config.layout import DataLayout
from coursehub.core.errors import CoursehubError
from coursehub.core.names import validate_course_name
from coursehub.core.times import utc
from coursehub.courses import git
from coursehub.courses.git import CourseError, PullResult
from coursehub.db import models
from coursehub.db.session import Database

__all__ = ["CourseError", "CourseInfo", "CourseStore", "Enrolment", "PullResult"]

COURSE_ROLES = ("instructor", "ta", "student")
T = TypeVar("T")


@dataclass(frozen=True)
class CourseInfo:
    name: str
    repo_url: str  # credentials redacted
    branch: str
    archived: bool
    created_at: datetime
    last_pull_at: datetime | None
    last_pull_ok: bool | None
    last_pull_output: str
    current_commit: str | None
    members: int

    @classmethod
    def of(cls, row: models.Course, members: int) -> CourseInfo:
        last = row.last_pull_at
        return cls(
            *(row.name, git.redact(row.repo_url), row.branch, row.archived),
            *(row.created_at, last, row.last_pull_ok),
            *(row.last_pull_output, row.current_commit, members),
        )


@dataclass(frozen=True)
class Enrolment:
    course: str
    username: str
    role: str


class CourseStore:
    """Courses of one coursehub database and data directory."""

    def __init__(self, db: Database, layout: DataLayout):
        self.db = db
        self.layout = layout

    def add(self, name: str, repo: str, branch: str | None = None) -> CourseInfo:
        """Clone `repo` and record the course; on any failure nothing is left behind."""
        _check(validate_course_name(name))
        url = git.check_repo_url(repo)
        if self.get(name) is not None:
            raise CourseError(_exists(name))
        final = self.layout.course_dir(name)
        if final.exists():
            raise CourseError(
                f"{final} already exists but no course {name!r} is recorded (left by "
                "`course remove --keep-files`?); move it away or choose another name"
            )
        # Clone beside the final place, then rename: a course directory is complete or
        # absent, never half-cloned.
        staging = self._mkdir(self.layout.courses / f".adding-{name}-{secrets.token_hex(4)}")
        try:
            cloned = git.clone(url, staging / "repo", branch)
            try:
                staging.rename(final)
            except OSError as exc:  # another `course add` of this name won the race
                raise CourseError(_exists(name)) from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        row = models.Course(name=name, repo_url=url, branch=cloned.branch)
        row.current_commit, row.last_pull_output = cloned.commit, cloned.output
        row.last_pull_at, row.last_pull_ok = models.utcnow(), True
        try:
            with self.db.session() as s:
                s.add(row)
                s.flush()
                info = CourseInfo.of(row, 0)
        except BaseException as exc:
            shutil.rmtree(final, ignore_errors=True)
            if isinstance(exc, IntegrityError):
                raise CourseError(_exists(name)) from exc
            raise
        self.apply_manifest_staff(name)
        return self.get(name) or info

    def apply_manifest_staff(self, name: str) -> builtins.list[Enrolment]:
        """Enrol the staff listed in the course's course.yaml with their roles (after
        add and every pull). Nobody is removed; a broken manifest enrols nobody (the
        course page reports it)."""
        from coursehub.courses.manifest import ManifestError, load_manifest

        try:
            staff = load_manifest(self.layout.course_repo(name), name).staff
        except ManifestError:
            return []
        done: builtins.list[Enrolment] = []
        for role, names in (("ta", staff.tas), ("instructor", staff.instructors)):
            usable = [u for u in names if validate_username(u) is None]
            if usable:
                done += self.enrol_many(name, usable, role)
        return done

    def pull(self, name: str, log: Callable[[str], None] | None = None) -> PullResult:
        """Bring the checkout to the newest commit of the course's branch and record
        the outcome; a failed pull comes back with ``ok=False`` and is recorded too."""
        course = _existing(self.get(name), name)
        if course.archived:
            raise CourseError(f"course {name!r} is archived; unarchive it to pull")
        repo = self.layout.course_repo(name)
        # One pull at a time per checkout (autopull and the CLI may overlap).
        with _locked(self.layout.course_dir(name) / ".pull.lock"):
            result = git.pull(repo, course.branch, log)
        with self.db.session() as s:
            row = _existing(s.get(models.Course, name), name)
            row.last_pull_at = models.utcnow()
            row.last_pull_ok = result.ok
            row.last_pull_output = result.output
            if result.new_commit is not None:
                row.current_commit = result.new_commit
        if result.ok:
            self.apply_manifest_staff(name)
            if result.changed:
                self._refresh_kernel(name)
        return result

    def _refresh_kernel(self, name: str) -> None:
        """New notebooks may name new kernels, course.yaml new import folders."""
        from coursehub.courses.course_kernel import refresh_course_kernel

        # A broken manifest keeps the last kernelspec (the course page reports it).
        with suppress(CoursehubError, OSError):
            refresh_course_kernel(self.layout, name)

    def due_for_autopull(self, now: datetime, interval: timedelta) -> builtins.list[str]:
        """Names of active courses whose last pull (good or bad) is older than
        `interval`, so a failing remote is retried once per interval, not hammered."""
        query = select(models.Course.name, models.Course.last_pull_at).order_by("name")
        with self.db.session() as s:
            rows = s.execute(query.where(models.Course.archived.is_(False))).all()
        now = utc(now)
        return [n for n, at in rows if at is None or now - at >= interval]

    def get(self, name: str) -> CourseInfo | None:
        with self.db.session() as s:
            row = s.get(models.Course, name)
            return None if row is None else CourseInfo.of(row, self._count(s, name))

    def archive(self, name: str) -> None:
        self._set_archived(name, True)

    def unarchive(self, name: str) -> None:
        self._set_archived(name, False)

    def remove(self, name: str, delete_files: bool = True) -> None:
        """Forget the course and its enrolments; delete its files unless told not to."""
        _existing(self.get(name), name)
        folder = self.layout.course_dir(name)
        trash = self.layout.courses / f".removing-{name}-{secrets.token_hex(4)}"
        # Renamed aside first: a failure below puts it back, and a half-deleted tree
        # never blocks adding the name again.
        moved = delete_files and folder.exists()
        if moved:
            try:
                folder.rename(trash)
            except OSError as exc:
                raise CourseError(f"could not remove {folder}: {exc}") from exc
        try:
            with self.db.session() as s:
                s.delete(_existing(s.get(models.Course, name), name))
        except BaseException:
            if moved:
                trash.rename(folder)
            raise
        if moved:
            shutil.rmtree(trash, ignore_errors=True)

    def enrol(self, name: str, username: str, role: str = "student") -> Enrolment:
        return self.enrol_many(name, [username], role)[0]

    def enrol_many(
        self, name: str, usernames: Iterable[str], role: str = "student"
    ) -> builtins.list[Enrolment]:
        """Enrol everyone with `role` (changing the role of those already enrolled):
        all of them or, if any name is invalid, none."""
        names = builtins.list(dict.fromkeys(usernames))
        _check_role(role)
        problems = [validate_username(u) for u in names]
        _check("; ".join(p for p in problems if p) or None)
        for attempt in range(3):
            try:
                with self.db.session() as s:
                    _existing(s.get(models.Course, name), name)
                    for username in names:
                        row = s.get(models.Enrolment, (name, username))
                        if row is None:
                            s.add(models.Enrolment(course=name, username=username, role=role))
                        else:
                            row.role = role
                break
            except IntegrityError:
                # Someone enrolled one of them in between (the same student launching
                # from two tabs at once): their row exists now, so the next pass
                # updates it instead.
                if attempt == 2:
                    raise
        return [Enrolment(name, u, role) for u in names]

    def unenrol(self, name: str, username: str) -> None:
        with self.db.session() as s:
            row = s.get(models.Enrolment, (name, username))
            if row is None:
                _existing(s.get(models.Course, name), name)
                raise CourseError(f"{username!r} is not enrolled in course {name!r}")
            s.delete(row)

    def members(self, name: str, role: str | None = None) -> builtins.list[Enrolment]:
        """Members sorted by role (instructors first), then username."""
        query = select(models.Enrolment).where(models.Enrolment.course == name)
        if role is not None:
            _check_role(role)
            query = query.where(models.Enrolment.role == role)
        with self.db.session() as s:
            _existing(s.get(models.Course, name), name)
            rows = [Enrolment(e.course, e.username, e.role) for e in s.scalars(query)]
        return sorted(rows, key=lambda e: (COURSE_ROLES.index(e.role), e.username))

    def role_of(self, name: str, username: str) -> str | None:
        """`username`'s role in course `name`, or None (one indexed lookup)."""
        with self.db.session() as s:
            return s.scalar(
                select(models.Enrolment.role).where(
                    models.Enrolment.course == name, models.Enrolment.username == username
                )
            )

    def courses_of(self, username: str) -> builtins.list[Enrolment]:
        query = select(models.Enrolment).where(models.Enrolment.username == username)
        with self.db.session() as s:
            rows = s.scalars(query.order_by(models.Enrolment.course))
            return [Enrolment(e.course, e.username, e.role) for e in rows]

    def _set_archived(self, name: str, archived: bool) -> None:
        with self.db.session() as s:
            _existing(s.get(models.Course, name), name).archived = archived

    @staticmethod
    def _count(s: Session, name: str) -> int:
        query = select(func.count()).where(models.Enrolment.course == name)
        return int(s.scalar(query) or 0)

    def _mkdir(self, path: Path) -> Path:
        """Create `path` (and courses/) as 0755 whatever the umask: students' servers
        and the build account read course files, so the data dir is 0711 (passable,
        not listable) as `up` makes it, also when a course comes before the first `up`."""
        self.layout.root.mkdir(parents=True, exist_ok=True, mode=0o711)
        os.chmod(self.layout.root, 0o711)
        for folder in (self.layout.courses, path):
            folder.mkdir(exist_ok=True)
            folder.chmod(0o755)
        return path

    # Last, so that `list` in the annotations above still means the builtin.
    def list(self, include_archived: bool = True) -> builtins.list[CourseInfo]:
        """Courses sorted by name, each with its member count."""
        query = select(models.Course).order_by(models.Course.name)
        if not include_archived:
            query = query.where(models.Course.archived.is_(False))
        counted = select(models.Enrolment.course, func.count()).group_by(models.Enrolment.course)
        with self.db.session() as s:
            counts: dict[str, int] = dict(s.execute(counted).all())
            return [CourseInfo.of(row, counts.get(row.name, 0)) for row in s.scalars(query)]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on `path`; with no folder, no lock (the pull then reports
    the missing checkout)."""
    if not path.parent.is_dir():
        yield
        return
    with open(path, "a") as fd:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _check(problem: str | None) -> None:
    if problem:
        raise CourseError(problem)


def _check_role(role: str) -> None:
    if role not in COURSE_ROLES:
        raise CourseError(f"course role {role!r} is not one of: {', '.join(COURSE_ROLES)}")


def _exists(name: str) -> str:
    return f"a course named {name!r} already exists; pull it, or remove it first"


def _existing(row: T | None, name: str) -> T:
    if row is None:
        raise CourseError(f"no course named {name!r} (see `coursehub course list`)")
    return row
