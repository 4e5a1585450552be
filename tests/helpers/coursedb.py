"""Coursehub databases for tests: made with the real schema, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coursehub.courses.store import CourseStore
from coursehub.db.session import Database, ensure_schema


def sqlite_url(folder: Path, name: str = "coursehub.sqlite") -> str:
    """The URL of an SQLite file in `folder` (made on first use)."""
    return f"sqlite:///{folder / name}"


def open_database(url: str) -> Database:
    """The coursehub tables at `url` (made if missing), and a Database on them."""
    ensure_schema(url)
    return Database(url)


@contextmanager
def opened_database(url: str) -> Iterator[Database]:
    """open_database(url), disposed of afterwards."""
    database = open_database(url)
    try:
        yield database
    finally:
        database.dispose()


def add_courses(store: CourseStore, repo: Path, members: dict[str, dict[str, str]]) -> CourseStore:
    """Add every course of `members` (course -> {username: course role}) from `repo`,
    then enrol its members."""
    for course in members:
        store.add(course, str(repo))
    for course, people in members.items():
        for username, role in people.items():
            store.enrol(course, username, role)
    return store
