"""A scripted week of activity in one course, with the counts it must give.

Seven UTC days ending today (`NOW`'s date): three active students, one enrolled
student who never came, staff (an instructor, a TA, a site admin) whose events must
not count, two notebooks, and noise that must not count either (another course,
events without a course, event types that are not counted).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coursehub.config.layout import DataLayout
from coursehub.courses.store import CourseStore
from coursehub.db import models
from coursehub.db.session import Database
from tests.helpers.gitrepo import commit_all

COURSE = "algebra"
OTHER = "physics"
INTRO, WEEK2 = "intro.ipynb", "lab/week2.ipynb"
STUDENTS = ("amy", "bob", "cat", "dan")  # dan never opens anything
STAFF = {"ines": "instructor", "tom": "ta"}
ADMIN = "ada"


def day_start(offset: int, now: datetime) -> datetime:
    """Midnight UTC of day `offset` of the week (0 = six days ago, 6 = today)."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=6 - offset)


# (day, hour, minute, user, type, path, how many)
SCRIPT = [
    (0, 9, 0, "amy", "notebook_opened", INTRO, 2),
    (0, 9, 5, "amy", "notebook_saved", INTRO, 1),
    (0, 9, 6, "amy", "cell_executed", INTRO, 3),
    (0, 10, 0, "bob", "notebook_opened", INTRO, 1),
    (1, 23, 59, "amy", "notebook_opened", WEEK2, 1),  # late in the UTC day: still day 1
    (3, 8, 0, "cat", "notebook_opened", INTRO, 1),
    (3, 8, 1, "cat", "notebook_opened", WEEK2, 1),
    (3, 14, 0, "bob", "cell_executed", WEEK2, 2),  # ran cells without an open event
    (3, 14, 1, "bob", "kernel_started", WEEK2, 1),  # not counted
    (6, 0, 0, "amy", "notebook_opened", INTRO, 1),  # first second of today
    (6, 1, 0, "cat", "notebook_opened", WEEK2, 2),
    # staff: never counted
    (0, 8, 0, "ines", "notebook_opened", INTRO, 5),
    (6, 1, 0, "ines", "notebook_opened", WEEK2, 1),
    (3, 9, 0, "tom", "notebook_opened", WEEK2, 1),
    (6, 2, 0, ADMIN, "notebook_opened", INTRO, 1),
]

# What the script must give with days=7 (day offsets 0..6).
EXPECTED_DAILY = {  # offset: (opens, saves, executions, active, new)
    0: (3, 1, 3, 2, 2),
    1: (1, 0, 0, 1, 0),
    2: (0, 0, 0, 0, 0),
    3: (2, 0, 2, 2, 1),
    4: (0, 0, 0, 0, 0),
    5: (0, 0, 0, 0, 0),
    6: (3, 0, 0, 2, 0),
}
EXPECTED_NOTEBOOKS = {INTRO: (3, 5), WEEK2: (2, 4)}  # path: (students, opens)
EXPECTED_STUDENTS = {"amy": (2, 4, 6), "bob": (1, 1, 3), "cat": (2, 4, 6)}  # notebooks, opens, last
EXPECTED_HEATMAP = [[3, 1], [1, 0], [1, 3]]  # amy, bob, cat × intro, week2


def make_course_repo(root: Path) -> Path:
    repo = root / "repo"
    (repo / "lab").mkdir(parents=True)
    for path in (INTRO, WEEK2):
        (repo / path).write_text(
            '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
        )
    (repo / "course.yaml").write_text("title: Algebra & Co\n")
    commit_all(repo, "first")
    return repo


def event_rows(now: datetime) -> list[dict]:
    rows = []
    for day, hour, minute, username, type_, path, times in SCRIPT:
        at = day_start(day, now) + timedelta(hours=hour, minutes=minute)
        if day == 1 and hour == 23:
            at += timedelta(seconds=59)
        for _ in range(times):
            rows.append(_event(type_, username, COURSE, path, at))
    # noise: another course, an event without a course
    rows.append(_event("notebook_opened", "amy", OTHER, INTRO, day_start(6, now)))
    rows.append(_event("notebook_opened", "amy", None, INTRO, day_start(6, now)))
    return rows


def _event(type_: str, username: str, course: str | None, path: str, at: datetime) -> dict:
    return {
        "type": type_,
        "username": username,
        "course": course,
        "filename": Path(path).name,
        "path": path,
        "timestamp": at,
        "received_at": at,
        "data": json.dumps({}),
    }


def populate(db: Database, data_dir: Path, root: Path, now: datetime) -> CourseStore:
    """The course, its members, the admin account and the week's events."""
    store = CourseStore(db, DataLayout(data_dir))
    repo = make_course_repo(root)
    store.add(COURSE, str(repo))
    store.add(OTHER, str(repo))
    for name in STUDENTS:
        store.enrol(COURSE, name)
    for name, role in STAFF.items():
        store.enrol(COURSE, name, role)
    with db.session() as s:
        s.add(models.Account(username=ADMIN, role="admin"))
        s.add(models.Account(username="amy", role="student"))
        s.execute(models.Event.__table__.insert(), event_rows(now))
    return store


def add_samples(db: Database, now: datetime, hours: int = 48, every_minutes: int = 20) -> None:
    """Monitor samples over the last `hours`: servers and kernels rising in the
    daytime, a machine whose load and memory follow them."""
    rows = []
    start = now - timedelta(hours=hours)
    for i in range(hours * 60 // every_minutes + 1):
        at = start + timedelta(minutes=i * every_minutes)
        hour = at.hour
        servers = 3 if 8 <= hour < 18 else (1 if 18 <= hour < 22 else 0)
        kernels = servers * 2 - (i % 2 if servers else 0)
        rows.append(
            models.StatSample(
                at=at, course=COURSE, servers=servers, kernels=kernels,
                busy_kernels=min(kernels, i % 3),
            )
        )  # fmt: skip
        rows.append(
            models.StatSample(
                at=at, course="", cpu_load=0.2 + 0.5 * servers + 0.1 * (i % 4),
                cpu_percent=5.0 + 12.0 * servers + (i % 5),
                memory_used=(1.5 + 0.4 * kernels) * 2**30,
                memory_total=8 * 2**30, disk_free=(60 - i * 0.01) * 2**30, disk_total=100 * 2**30,
            )
        )  # fmt: skip
    with db.session() as s:
        s.add_all(rows)
