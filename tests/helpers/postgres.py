"""Throwaway PostgreSQL databases for tests; skip with the reason when no server runs."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

SERVER = "postgresql://postgres@127.0.0.1:5432"


def throwaway_database(prefix: str = "coursehub_t") -> Iterator[str]:
    """Yield the URL of a new empty database; it is dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable ({exc}); SQLite tests still ran")
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
