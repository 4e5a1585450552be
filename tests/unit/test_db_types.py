"""Times come back from the coursehub database aware and in UTC, on SQLite and on
PostgreSQL, and compare correctly with times given in another zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from coursehub.db import models
from coursehub.db.session import Database, ensure_schema
from tests.helpers.postgres import throwaway_database

PARIS_WINTER = timezone(timedelta(hours=1))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path / 'coursehub.sqlite'}"])
    else:
        urls = throwaway_database()
    url = next(urls)
    ensure_schema(url)
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()
        next(urls, None)  # drops the PostgreSQL database


def _course(db: Database, created: datetime) -> datetime:
    with db.session() as s:
        s.add(models.Course(name="algebra", repo_url="/r", branch="main", created_at=created))
    with db.session() as s:
        return s.scalars(select(models.Course.created_at)).one()


def test_a_time_given_in_another_zone_is_the_same_moment_in_utc(db: Database) -> None:
    given = datetime(2026, 12, 21, 10, 0, tzinfo=PARIS_WINTER)
    back = _course(db, given)
    assert back.tzinfo is not None and back.utcoffset() == timedelta(0)
    assert back == given and back.hour == 9


def test_a_naive_time_is_read_as_utc(db: Database) -> None:
    back = _course(db, datetime(2026, 12, 21, 10, 0))
    assert back == datetime(2026, 12, 21, 10, 0, tzinfo=UTC)


def test_comparisons_in_queries_use_the_same_moment(db: Database) -> None:
    _course(db, datetime(2026, 12, 21, 10, 0, tzinfo=PARIS_WINTER))  # 09:00 UTC
    just_after = datetime(2026, 12, 21, 9, 30, tzinfo=UTC)
    with db.session() as s:
        found = s.scalars(select(models.Course.name).where(models.Course.created_at < just_after))
        assert list(found) == ["algebra"]
