"""Disk use per student: the monitor measures every enrolled person's home and each of
their course workspaces (~/courses/<course>/) into coursehub_disk_usage.

Measuring 300 homes can take long, so it is spread out: a round starts at most every
`MEASURE_EVERY` seconds and each monitor call walks for at most `BUDGET` seconds,
resuming where it stopped at the next call. Bytes are allocated blocks
(st_blocks * 512): a sparse file counts for what it really takes. The walk never
follows symbolic links nor enters another filesystem (a mounted data set, say), and
counts a file with several hard links once.

The quota is soft: crossing it only warns (the student's pages, the staff page, one
log line when a student goes over).
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from coursehub.courses.workspace import WorkspaceError, demo_student, local_student
from coursehub.db import models
from coursehub.db.session import Database

log = logging.getLogger("coursehub.monitor")

MEASURE_EVERY = 600  # seconds between the starts of two rounds over all homes
BUDGET = 2.0  # seconds of walking per monitor call; the rest waits for the next call
_IN_CHUNK = 500  # usernames per IN (...) query


@dataclass
class Usage:
    bytes: int = 0
    files: int = 0

    def add(self, size: int, is_file: bool) -> None:
        self.bytes += size
        self.files += is_file


@dataclass
class HomeWalk:
    """A resumable walk of one home: `step` walks until a deadline, then returns."""

    username: str
    home: Path
    courses: frozenset[str]
    total: Usage = field(default_factory=Usage)
    per_course: dict[str, Usage] = field(default_factory=dict)  # workspaces seen
    unreadable: int = 0  # folders that could not be listed
    # folders still to list: (path, (st_dev, st_ino) when seen, course it counts for)
    _stack: list[tuple[str, tuple[int, int], str | None]] = field(default_factory=list)
    _dev: int = -1
    _seen: set[tuple[int, int]] = field(default_factory=set)  # hard-linked files counted

    @classmethod
    def start(cls, username: str, home: Path, courses: Iterable[str]) -> HomeWalk | None:
        """A walk of `home`, or None when there is no home (a symlink is no home)."""
        try:
            st = os.lstat(home)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            return None
        walk = cls(username, home, frozenset(courses))
        walk._dev = st.st_dev
        walk.total.add(st.st_blocks * 512, False)
        walk._stack.append((str(home), (st.st_dev, st.st_ino), None))
        return walk

    def step(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> bool:
        """Walk until done (True) or until `clock()` passes `deadline` (False)."""
        courses_dir = os.path.join(self.home, "courses")
        while self._stack:
            if clock() >= deadline:
                return False
            path, seen, course = self._stack.pop()
            try:
                fd = _open_folder(path, seen)
            except OSError:  # vanished meanwhile, or not ours to read
                self.unreadable += 1
                continue
            if fd is None:
                continue  # replaced since it was seen: not the folder we counted
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        in_courses = course is None and path == courses_dir
                        owner = entry.name if in_courses and entry.name in self.courses else course
                        self._count(path, entry, owner)
            except OSError:
                self.unreadable += 1
            finally:
                os.close(fd)
        return True

    def _count(self, folder: str, entry: os.DirEntry, course: str | None) -> None:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return
        if st.st_dev != self._dev:
            return  # a mount point: another filesystem is not this home's disk use
        is_dir = stat.S_ISDIR(st.st_mode)
        if st.st_nlink > 1 and not is_dir:
            key = (st.st_dev, st.st_ino)
            if key in self._seen:
                return
            self._seen.add(key)
        size = st.st_blocks * 512
        is_file = stat.S_ISREG(st.st_mode)
        self.total.add(size, is_file)
        if course is not None:
            self.per_course.setdefault(course, Usage()).add(size, is_file)
        if is_dir:
            self._stack.append((os.path.join(folder, entry.name), (st.st_dev, st.st_ino), course))


def _open_folder(path: str, seen: tuple[int, int]) -> int | None:
    """An fd of the folder at `path` if it is still the one seen when listing its
    parent, else None. Homes are the students' to change while root walks them: a
    folder swapped for a symbolic link must not lead the walk elsewhere."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != seen:
        os.close(fd)
        return None
    return fd


def enrolled_courses(db: Database) -> dict[str, list[str]]:
    """Everyone enrolled in some course (any role, archived courses too) → their courses."""
    found: dict[str, list[str]] = {}
    query = select(models.Enrolment.username, models.Enrolment.course)
    with db.session() as s:
        for username, course in s.execute(query.order_by(models.Enrolment.username)):
            found.setdefault(username, []).append(course)
    return found


class DiskMeter:
    """The recorder: called every monitor round, measures a slice of the homes."""

    def __init__(
        self,
        db: Database,
        home_of: Callable[[str], Path | None],
        quota: int | None = None,
        every: float = MEASURE_EVERY,
        budget: float = BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.db = db
        self.home_of = home_of
        self.quota = quota
        self.every = every
        self.budget = budget
        self.clock = clock
        self.next_round: datetime | None = None  # None: start one at the next call
        self.pending: deque[str] = deque()
        self.courses: dict[str, list[str]] = {}
        self.current: HomeWalk | None = None
        self.unreadable_said: set[str] = set()

    def __call__(self, census: Any, now: datetime) -> None:
        deadline = self.clock() + self.budget
        if self.current is None and not self.pending:
            if self.next_round is not None and now < self.next_round:
                return
            self._start_round(now)
        while self.current is not None or self.pending:
            if self.clock() >= deadline:
                return
            if self.current is None:
                username = self.pending.popleft()
                home = self.home_of(username)
                walk = HomeWalk.start(username, home, self.courses[username]) if home else None
                if walk is None:
                    self._store(username, None, now)
                    continue
                self.current = walk
            if self.current.step(deadline, self.clock):
                self._store(self.current.username, self.current, now)
                self.current = None

    def _start_round(self, now: datetime) -> None:
        self.courses = enrolled_courses(self.db)
        self.pending = deque(self.courses)
        self.next_round = now + timedelta(seconds=self.every)
        with self.db.session() as s:  # people no longer enrolled anywhere
            known = set(s.scalars(select(models.DiskUsage.username).distinct()))
            gone = sorted(known - set(self.courses))
            for chunk in _chunks(gone):
                s.execute(delete(models.DiskUsage).where(models.DiskUsage.username.in_(chunk)))
        if gone:
            log.info("disk use: forgot %d people no longer enrolled", len(gone))

    def _store(self, username: str, walk: HomeWalk | None, now: datetime) -> None:
        """Replace `username`'s rows with what `walk` found (none without a home)."""
        measured: dict[str, Usage] = {}
        if walk is not None:
            measured = {"": walk.total, **walk.per_course}
            if walk.unreadable and username not in self.unreadable_said:
                self.unreadable_said.add(username)  # once per student, not every round
                log.warning(
                    "disk use: %d folders of %s's home could not be read (the service "
                    "runs as root to read every home)",
                    walk.unreadable,
                    username,
                )
        with self.db.session() as s:
            rows = {
                r.course: r
                for r in s.scalars(
                    select(models.DiskUsage).where(models.DiskUsage.username == username)
                )
            }
            before = rows[""].bytes if "" in rows else None
            for course, gone in rows.items():
                if course not in measured:
                    s.delete(gone)
            for course, use in measured.items():
                row = rows.get(course)
                if row is None:
                    row = models.DiskUsage(username=username, course=course)
                    s.add(row)
                row.bytes, row.files, row.measured_at = use.bytes, use.files, now
        if walk is not None:
            self._warn(username, before, walk.total.bytes)

    def _warn(self, username: str, before: int | None, after: int) -> None:
        """One log line when a student goes over the quota (and one when back under)."""
        if not self.quota:
            return
        was_over = before is not None and before > self.quota
        if after > self.quota and not was_over:
            log.warning(
                "disk use: %s uses %s, over the soft quota of %s",
                username,
                human_size(after),
                human_size(self.quota),
            )
        elif was_over and after <= self.quota:
            log.info("disk use: %s is back under the soft quota (%s)", username, human_size(after))


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i : i + _IN_CHUNK]


def home_finder(settings: Any) -> Callable[[str], Path | None]:
    """Where a coursehub user's home is, as the course pages see it (None: no account)."""
    if settings.spawn_backend == "demo":
        if not settings.demo_home_root:
            return lambda username: None
        root = Path(settings.demo_home_root)
        return lambda username: demo_student(root, username).home

    def local(username: str) -> Path | None:
        try:
            return local_student(f"{settings.user_prefix}{username}").home
        except WorkspaceError:
            return None  # never signed in: no account, no home yet

    return local


def quota_of(settings: Any) -> int | None:
    quota = settings.operations.quota_soft
    return int(quota) if quota else None


def recorder(db: Database, settings: Any) -> Callable[[Any, datetime], None]:
    """The monitor's disk-use recorder for a site with these service `settings`."""
    return DiskMeter(db, home_finder(settings), quota_of(settings))


# reading


@dataclass(frozen=True)
class DiskUse:
    home: int  # bytes of the whole home
    files: int
    course: int | None  # bytes of the asked course's workspace (None: no workspace)
    measured_at: datetime

    def over(self, quota: int | None) -> bool:
        return bool(quota) and self.home > quota  # type: ignore[operator]


def read_usage(db: Database, usernames: Iterable[str], course: str = "") -> dict[str, DiskUse]:
    """The last measurement of each of `usernames` who has one (with `course`'s
    workspace when given)."""
    names = sorted(set(usernames))
    homes: dict[str, models.DiskUsage] = {}
    workspaces: dict[str, int] = {}
    with db.session() as s:
        for chunk in _chunks(names):
            query = select(models.DiskUsage).where(
                models.DiskUsage.username.in_(chunk), models.DiskUsage.course.in_({"", course})
            )
            for row in s.scalars(query):
                if row.course == "":
                    homes[row.username] = row
                else:
                    workspaces[row.username] = row.bytes
        return {
            name: DiskUse(row.bytes, row.files, workspaces.get(name), row.measured_at)
            for name, row in homes.items()
        }


def human_size(n: int) -> str:
    """1536 → "1.5 KiB" (binary units, as the sizes in coursehub.yaml)."""
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} TiB"
