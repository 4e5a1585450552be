"""Password checks wait in a pool of their own: a class signing in at once never holds
the shared thread pool that every server start needs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from coursehub.accounts.store import AccountStore
from coursehub.db.session import Database
from coursehub.hub.auth import password_pool
from coursehub.hub.auth.local import CoursehubLocalAuthenticator

CLASS_SIZE = 40  # more sign-ins at once than the shared pool has threads


async def test_a_storm_of_password_checks_leaves_the_shared_pool_free(db: Database) -> None:
    AccountStore(db, min_password_length=8).add("alice", password="alice-pass-1")
    auth = CoursehubLocalAuthenticator(coursehub_db_url=db.url, signin_methods=["local"])
    real = auth.account_store.authenticate
    release = threading.Event()
    lock = threading.Lock()
    running: list[int] = [0]
    most = [0]
    threads: set[str] = set()

    def slow_check(username: str, password: str) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            threads.add(threading.current_thread().name)
        release.wait(60)  # a bcrypt check that takes as long as the test needs
        with lock:
            running[0] -= 1
        return real(username, password)

    auth.account_store.authenticate = slow_check
    form = {"username": "alice", "password": "alice-pass-1"}
    signins = [
        asyncio.ensure_future(auth.get_authenticated_user(None, form)) for _ in range(CLASS_SIZE)
    ]
    try:
        for _ in range(200):  # let every sign-in reach its password check
            await asyncio.sleep(0)
        # every check is running or queued; a start's small job still gets a thread
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "started"), 30) == "started"
    finally:
        release.set()
    models = await asyncio.gather(*signins)
    assert all(m is not None and m["name"] == "alice" for m in models)
    assert most[0] <= password_pool.pool_size()
    assert threads and all(name.startswith("coursehub-password") for name in threads)
