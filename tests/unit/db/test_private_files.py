"""The SQLite files of a site are readable by their owner only, from birth, and a site
made by an earlier release is made private at its next start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from coursehub.db.session import Database, ensure_schema, keep_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        url = f"sqlite:///{tmp_path / 'coursehub.sqlite'}"
        ensure_schema(url)
        db = Database(url)
        with db.session() as s:  # a write, so the -wal and -shm files exist
            s.execute(text("create table t (x int)"))
        found = sorted(p.name for p in tmp_path.iterdir())
        assert "coursehub.sqlite-wal" in found and "coursehub.sqlite-shm" in found
        assert {p.name: _mode(p) for p in tmp_path.iterdir()} == dict.fromkeys(found, 0o600)
        db.dispose()
    finally:
        os.umask(old)


def test_an_earlier_sites_readable_files_are_made_private(tmp_path: Path) -> None:
    db_file = tmp_path / "jupyterhub.sqlite"
    for path in (db_file, tmp_path / "jupyterhub.sqlite-wal"):
        path.write_bytes(b"")
        path.chmod(0o644)
    keep_private(f"sqlite:///{db_file}")
    assert _mode(db_file) == _mode(tmp_path / "jupyterhub.sqlite-wal") == 0o600


def test_a_link_in_place_of_a_sidecar_file_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not ours")
    target.chmod(0o644)
    (tmp_path / "coursehub.sqlite-shm").symlink_to(target)
    with pytest.raises(OSError):
        keep_private(f"sqlite:///{tmp_path / 'coursehub.sqlite'}")
    assert _mode(target) == 0o644


def test_other_databases_are_left_alone(tmp_path: Path) -> None:
    keep_private("postgresql+psycopg://postgres@127.0.0.1/test")
    keep_private("sqlite://")
    assert list(tmp_path.iterdir()) == []


def test_making_files_private_keeps_this_processs_sqlite_locks(tmp_path: Path) -> None:
    import sqlite3
    import subprocess
    import sys

    path = tmp_path / "coursehub.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("create table t (x int)")
    holder.execute("begin exclusive")  # a writer mid-transaction, as the service may be
    try:
        path.chmod(0o644)
        keep_private(f"sqlite:///{path}")  # as a second engine in the same process does
        other = subprocess.run(
            [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], "
             "timeout=0.2); c.execute('insert into t values (1)'); c.commit()", str(path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "database is locked" in other.stderr, other  # the lock still holds
        assert _mode(path) == 0o600
    finally:
        holder.execute("rollback")
        holder.close()
