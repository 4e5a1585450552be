"""Times come back from the coursehub database aware and in UTC, on SQLite and on
PostgreSQL, and compare correctly with times given in another zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from coursehub.db import models
from coursehub.db.session import Database

PARIS_WINTER = timezone(timedelta(hours=1))


def _course(db: Database, created: datetime) -> datetime:
    with db.session() as s:
        s.add(models.Course(name="algebra", repo_url="/r", branch="main", created_at=created))
    with db.session() as s:
        return s.scalars(select(models.Course.created_at)).one()


def test_a_time_given_in_another_zone_is_the_same_moment_in_utc(any_db: Database) -> None:
    given = datetime(2026, 12, 21, 10, 0, tzinfo=PARIS_WINTER)
    back = _course(any_db, given)
    assert back.tzinfo is not None and back.utcoffset() == timedelta(0)
    assert back == given and back.hour == 9


def test_a_naive_time_is_read_as_utc(any_db: Database) -> None:
    back = _course(any_db, datetime(2026, 12, 21, 10, 0))
    assert back == datetime(2026, 12, 21, 10, 0, tzinfo=UTC)


def test_comparisons_in_queries_use_the_same_moment(any_db: Database) -> None:
    _course(any_db, datetime(2026, 12, 21, 10, 0, tzinfo=PARIS_WINTER))  # 09:00 UTC
    just_after = datetime(2026, 12, 21, 9, 30, tzinfo=UTC)
    with any_db.session() as s:
        found = s.scalars(select(models.Course.name).where(models.Course.created_at < just_after))
        assert list(found) == ["algebra"]
