"""The hub's database in WAL mode through JupyterHub's own session factory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from jupyterhub import orm
from sqlalchemy import text

from coursehub.db.hub_sqlite import hub_db_kwargs
from coursehub.db.session import keep_private


def test_jupyterhub_opens_its_sqlite_database_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    keep_private(url)
    session = orm.new_session_factory(url, **hub_db_kwargs(url))()
    try:
        session.add(orm.User(name="ada"))
        session.commit()
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1  # JupyterHub's own
        # the write-ahead log is as private as the database (SQLite copies its mode)
        wal = tmp_path / "jupyterhub.sqlite-wal"
        assert stat.S_IMODE(os.stat(wal).st_mode) == 0o600
    finally:
        session.close()
        session.get_bind().dispose()


def test_other_databases_get_no_sqlite_arguments() -> None:
    assert hub_db_kwargs("postgresql://hub@db/hub") == {}
    assert hub_db_kwargs("sqlite:///:memory:") == {}
