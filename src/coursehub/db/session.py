"""Engines, sessions and schema upgrades for the coursehub database."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy.orm import Session, sessionmaker

VERSION_TABLE = "coursehub_alembic_version"
MIGRATIONS = Path(__file__).with_name("migrations")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None: another database, or in memory)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def keep_private(url: str) -> None:
    """Make a SQLite database and its -wal, -shm and -journal files readable by their
    owner only, creating the database file so that it is never born readable. It holds
    password hashes, grades and share tokens, and students may know its path; SQLite
    gives the files it adds the database file's own mode.

    An existing file is changed by path, never opened: closing a descriptor of a file
    drops every POSIX lock this process holds on it, which are SQLite's locks."""
    path = sqlite_file(url)
    if path is None or not path.parent.is_dir():
        return
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    for name in (str(path), *(f"{path}{suffix}" for suffix in ("-wal", "-shm", "-journal"))):
        try:
            info = os.lstat(name)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{name} is not a regular file: coursehub will not use it")
        if stat.S_IMODE(info.st_mode) != 0o600:
            os.chmod(name, 0o600)


def make_engine(url: str) -> Engine:
    """An engine tuned for many short transactions from hub, service and CLI at once."""
    if url.startswith("sqlite"):
        keep_private(url)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL never corrupts the database and survives a crash of any
            # process; only a power cut may lose the last transactions. It saves an
            # fsync per commit, which decides how many events a second fit.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def ensure_schema(url: str) -> None:
    """Create or upgrade coursehub's tables to the newest schema (idempotent)."""
    command.upgrade(alembic_config(url), "head")


def schema_is_current(engine: Engine) -> bool:
    return inspect(engine).has_table(VERSION_TABLE)


class Database:
    """One engine and session factory for a database URL."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        with self._factory() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
