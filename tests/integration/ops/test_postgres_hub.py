"""The hub and coursehub on PostgreSQL instead of the embedded SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login
from tests.helpers.postgres import throwaway_database

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture
def database() -> Iterator[str]:
    # plain postgresql:// so the hub and coursehub pick their default driver
    for url in throwaway_database("coursehub_it"):
        yield url.replace("postgresql+psycopg://", "postgresql://")


def test_hub_and_accounts_live_in_postgresql(
    database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import psycopg

    site = hubproc.write_site(
        tmp_path_factory.mktemp("pg-site"),
        users={"erin": "erin-pass-123"},
        extra_yaml=f"database:\n  url: {database}\n",
    )
    try:
        hubproc.start(site)
        client = login(site.url, "erin", "erin-pass-123")
        assert client.get("/hub/home").status_code == 200
        with psycopg.connect(database) as conn:
            hub_users = [r[0] for r in conn.execute("SELECT name FROM users")]
            accounts = [r[0] for r in conn.execute("SELECT username FROM coursehub_accounts")]
        assert "erin" in hub_users and accounts == ["erin"]
        # no SQLite files were made: everything is in PostgreSQL
        assert not list(site.data_dir.glob("*.sqlite"))
    finally:
        hubproc.stop(site)
