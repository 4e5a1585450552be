"""The hub and coursehub on PostgreSQL instead of the embedded SQLite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture
def database(postgres_url: str) -> str:
    # plain postgresql:// so the hub and coursehub pick their default driver
    return postgres_url.replace("postgresql+psycopg://", "postgresql://")


def test_hub_and_accounts_live_in_postgresql(
    database: str, site_folder: Callable[..., Path]
) -> None:
    import psycopg

    with hubproc.running(
        site_folder("pg-site"),
        users={"erin": "erin-pass-123"},
        extra_yaml=f"database:\n  url: {database}\n",
    ) as site:
        client = login(site.url, "erin", "erin-pass-123")
        assert client.get("/hub/home").status_code == 200
        with psycopg.connect(database) as conn:
            hub_users = [r[0] for r in conn.execute("SELECT name FROM users")]
            accounts = [r[0] for r in conn.execute("SELECT username FROM coursehub_accounts")]
        assert "erin" in hub_users and accounts == ["erin"]
        # no SQLite files were made: everything is in PostgreSQL
        assert not list(site.data_dir.glob("*.sqlite"))
