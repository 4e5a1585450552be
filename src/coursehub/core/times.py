"""Times given to coursehub from outside the database (query strings, arguments)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def utc(when: datetime) -> datetime: ...
@overload
def utc(when: None) -> None: ...
def utc(when: datetime | None) -> datetime | None:
    """`when` made aware: coursehub keeps UTC everywhere, so a naive time is UTC."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)
