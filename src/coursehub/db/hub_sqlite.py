"""The hub's own SQLite database in WAL mode, through JupyterHub's public `db_kwargs`.

JupyterHub commits on its event loop for nearly every request of a sign-in or a start
(sessions, OAuth codes and tokens, spawner state). In SQLite's default rollback-journal
mode each commit waits for two fsyncs while the whole hub stands still; in WAL mode with
synchronous=NORMAL a commit is an append to the log, and readers never wait for a
writer. As for the coursehub database (db/session.py): the database is never corrupted
and survives a crash of any process; only a power cut may lose the last transactions
(sign-ins and starts of the last moments, which are simply made again).

The pragmas are set by a `sqlite3.Connection` subclass handed to `sqlite3.connect` as its
`factory` (a documented argument), so every connection the hub opens has them and
JupyterHub itself is configured, not changed.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from coursehub.db.session import sqlite_file


class WalConnection(sqlite3.Connection):
    """A SQLite connection in WAL mode with synchronous=NORMAL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # journal_mode is kept in the file; synchronous is per connection.
        self.execute("PRAGMA journal_mode=WAL")
        self.execute("PRAGMA synchronous=NORMAL")


def hub_db_kwargs(url: str) -> dict[str, Any]:
    """`JupyterHub.db_kwargs` for the hub database at `url` ({} unless a SQLite file)."""
    if sqlite_file(url) is None:
        return {}
    # check_same_thread=False is what JupyterHub sets itself when given no connect_args.
    return {"connect_args": {"check_same_thread": False, "factory": WalConnection}}
