"""Password checks on a small thread pool of their own.

A bcrypt check costs tens of milliseconds of CPU. The event loop's default executor
is shared: JupyterHub and coursehub's spawner hand it the short database reads and file
work of every start (refreshing a user, finding the course, making the workspace,
forking the server). When a class signs in at once, password checks queued there put
every start behind them. Here at most one check per core runs at once (bcrypt releases
the GIL, so more threads could not finish sooner), the rest wait in this pool's own
queue, and the shared pool stays free for starts.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None


def pool_size() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(pool_size(), thread_name_prefix="coursehub-password")
    return _pool


async def run_password_check(check: Callable[[], T]) -> T:
    """Run `check` (a bcrypt verification and its database reads) on the password pool."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), check)
