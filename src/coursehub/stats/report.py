"""What the statistics page, the CSV files and `coursehub stats` show, for one course,
with the course's staff (instructors, TAs, site admins) left out.

Totals (students who ever opened a notebook, enrolled students) cover all time; the
rest covers the last `days` days (UTC), today included, or everything with None.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, distinct, func, select
from sqlalchemy.orm import Session

from coursehub.core.times import utc
from coursehub.courses.git import CourseError
from coursehub.db import models
from coursehub.db.session import Database

STAFF_ROLES = ("instructor", "ta")
MAX_POINTS = 1500  # samples drawn per series; more are averaged into buckets


@dataclass(frozen=True)
class DayRow:
    day: date
    opens: int
    saves: int
    executions: int
    active: int  # students who did anything that day
    new: int  # students seen for the first time that day


@dataclass(frozen=True)
class NotebookRow:
    path: str
    students: int  # who opened it
    opens: int


@dataclass(frozen=True)
class StudentRow:
    username: str
    notebooks: int  # how many different notebooks they opened
    opens: int
    last_day: date | None


@dataclass(frozen=True)
class ServerPoint:
    at: datetime
    servers: float
    kernels: float
    busy_kernels: float


@dataclass(frozen=True)
class MachinePoint:
    at: datetime
    cpu_load: float | None
    cpu_percent: float | None
    memory_used: float | None
    memory_total: float | None
    disk_free: float | None
    disk_total: float | None


@dataclass(frozen=True)
class Heatmap:
    notebooks: list[str]
    students: list[str]
    opens: list[list[int]]  # opens[student][notebook]

    @property
    def most(self) -> int:
        return max((n for row in self.opens for n in row), default=0)


@dataclass
class CourseStats:
    course: str
    days: int | None
    since: date
    until: date
    students_total: int  # ever opened a notebook of the course
    students_enrolled: int
    active_today: int
    active_week: int  # in the last 7 days, today included
    daily: list[DayRow] = field(default_factory=list)
    notebooks: list[NotebookRow] = field(default_factory=list)
    students: list[StudentRow] = field(default_factory=list)
    heatmap: Heatmap = field(default_factory=lambda: Heatmap([], [], []))
    servers: list[ServerPoint] = field(default_factory=list)
    machine: list[MachinePoint] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)


def staff_of(s: Session, course: str) -> set[str]:
    """The course's instructors and TAs, and the site's admins (as far as the
    database knows them: accounts with the admin role)."""
    enrolled = select(models.Enrolment.username).where(
        models.Enrolment.course == course, models.Enrolment.role.in_(STAFF_ROLES)
    )
    admins = select(models.Account.username).where(models.Account.role == "admin")
    return set(s.scalars(enrolled)) | set(s.scalars(admins))


def course_stats(
    db: Database,
    course: str,
    days: int | None = 30,
    now: datetime | None = None,
    notebooks: Iterable[str] = (),
    also_staff: Iterable[str] = (),
) -> CourseStats:
    """Everything about `course`; `notebooks` (the course's) are listed even when
    nobody opened them; `also_staff` are left out too (say, the hub admin asking)."""
    if days is not None and days < 1:
        raise ValueError("days must be at least 1")
    now = utc(now or datetime.now(UTC))
    today = now.date()
    with db.session() as s:
        if s.get(models.Course, course) is None:
            raise CourseError(f"there is no course {course!r}")
        staff = staff_of(s, course) | set(also_staff)
        daily = models.StatDaily
        mine = (daily.course == course, daily.username.not_in(staff))
        first = s.scalar(select(func.min(daily.day)).where(*mine))
        since = today - timedelta(days=days - 1) if days else min(first or today, today)
        window = (*mine, daily.day >= since)
        stats = CourseStats(
            course=course,
            days=days,
            since=since,
            until=today,
            students_total=_count_students(s, *mine, daily.opens > 0),
            students_enrolled=int(
                s.scalar(
                    select(func.count()).where(
                        models.Enrolment.course == course,
                        models.Enrolment.role == "student",
                        models.Enrolment.username.not_in(staff),
                    )
                )
                or 0
            ),
            active_today=_count_students(s, *mine, daily.day == today),
            active_week=_count_students(s, *mine, daily.day >= today - timedelta(days=6)),
            staff=sorted(staff),
        )
        stats.daily = _daily(s, mine, window, since, today)
        stats.notebooks = _notebooks(s, window, notebooks)
        stats.students = _students(s, window)
        stats.heatmap = _heatmap(s, window, [n.path for n in stats.notebooks])
        start = datetime.combine(since, time(), tzinfo=UTC)
        stats.servers = _servers(s, course, start)
        stats.machine = _machine(s, start)
    return stats


def _count_students(s: Session, *where: ColumnElement[bool]) -> int:
    query = select(func.count(distinct(models.StatDaily.username))).where(*where)
    return int(s.scalar(query) or 0)


def _daily(s: Session, mine: tuple, window: tuple, since: date, today: date) -> list[DayRow]:
    d = models.StatDaily
    per_day = {
        day: (int(o or 0), int(sv or 0), int(x or 0), int(a or 0))
        for day, o, sv, x, a in s.execute(
            select(
                d.day, func.sum(d.opens), func.sum(d.saves), func.sum(d.executions),
                func.count(distinct(d.username)),
            ).where(*window).group_by(d.day)
        )
    }  # fmt: skip
    firsts = (
        select(d.username, func.min(d.day).label("first"))
        .where(*mine)
        .group_by(d.username)
        .subquery()
    )
    new: dict[date, int] = dict(
        s.execute(
            select(firsts.c.first, func.count())
            .where(firsts.c.first >= since)
            .group_by(firsts.c.first)
        ).all()
    )
    rows = []
    day = since
    while day <= today:
        opens, saves, runs, active = per_day.get(day, (0, 0, 0, 0))
        rows.append(DayRow(day, opens, saves, runs, active, int(new.get(day, 0))))
        day += timedelta(days=1)
    return rows


def _notebooks(s: Session, window: tuple, known: Iterable[str]) -> list[NotebookRow]:
    d = models.StatDaily
    opened = select(d.path, func.count(distinct(d.username)), func.sum(d.opens))
    found = {
        path: NotebookRow(path, int(n), int(opens or 0))
        for path, n, opens in s.execute(opened.where(*window, d.opens > 0).group_by(d.path))
    }
    for path in known:
        found.setdefault(path, NotebookRow(path, 0, 0))
    return sorted(found.values(), key=lambda r: r.path)


def _students(s: Session, window: tuple) -> list[StudentRow]:
    d = models.StatDaily
    opened = dict(
        s.execute(
            select(d.username, func.count(distinct(d.path)))
            .where(*window, d.opens > 0)
            .group_by(d.username)
        ).all()
    )
    query = select(d.username, func.sum(d.opens), func.max(d.day)).where(*window)
    return [
        StudentRow(name, int(opened.get(name, 0)), int(opens or 0), last)
        for name, opens, last in s.execute(query.group_by(d.username).order_by(d.username))
    ]


def _heatmap(s: Session, window: tuple, notebooks: list[str]) -> Heatmap:
    d = models.StatDaily
    cells = s.execute(
        select(d.username, d.path, func.sum(d.opens))
        .where(*window, d.opens > 0)
        .group_by(d.username, d.path)
    ).all()
    students = sorted({name for name, _p, _n in cells})
    column = {path: i for i, path in enumerate(notebooks)}
    row = {name: i for i, name in enumerate(students)}
    opens = [[0] * len(notebooks) for _ in students]
    for name, path, n in cells:
        if path in column:
            opens[row[name]][column[path]] = int(n or 0)
    return Heatmap(list(notebooks), students, opens)


def _samples(s: Session, course: str, start: datetime) -> list[models.StatSample]:
    query = (
        select(models.StatSample)
        .where(models.StatSample.course == course, models.StatSample.at >= start)
        .order_by(models.StatSample.at)
    )
    return list(s.scalars(query))


def _servers(s: Session, course: str, start: datetime) -> list[ServerPoint]:
    points = [
        ServerPoint(r.at, r.servers, r.kernels, r.busy_kernels) for r in _samples(s, course, start)
    ]
    return bucketed(points)


def _machine(s: Session, start: datetime) -> list[MachinePoint]:
    points = [
        MachinePoint(
            r.at, r.cpu_load, r.cpu_percent, r.memory_used, r.memory_total,
            r.disk_free, r.disk_total,
        )
        for r in _samples(s, "", start)
    ]  # fmt: skip
    return bucketed(points)


def bucketed(points: list, most: int = MAX_POINTS) -> list:
    """At most `most` points: consecutive ones averaged (a month of minutes would be
    40,000 points, more than a chart can show or a page should carry)."""
    if len(points) <= most:
        return points
    size = -(-len(points) // most)
    out = []
    kind = type(points[0])
    for i in range(0, len(points), size):
        group = points[i : i + size]
        values = {}
        for name in kind.__dataclass_fields__:
            if name == "at":
                continue
            known = [getattr(p, name) for p in group if getattr(p, name) is not None]
            values[name] = sum(known) / len(known) if known else None
        out.append(kind(at=group[0].at, **values))
    return out
