"""Real Unix accounts for students, checked at every start and made if missing.

Accounts are made when people are imported or enrolled (accounts/unix.py); this is the
check at start time for people who arrive other ways (GitHub teams, LMS launches), a
lookup and a stat when the account exists.
"""

from __future__ import annotations

import asyncio
import pwd
from pathlib import Path

from coursehub.accounts.unix import (
    LOCK_PAUSE,
    LOCK_RETRIES,
    ensure_home_root,
    is_lock_failure,
    lookup,
    private_home,
    system_username,
    useradd_argv,
)
from coursehub.core.errors import AccountError

__all__ = ["delete_unix_account", "ensure_unix_account", "lookup", "system_username"]

_useradd_lock: asyncio.Lock | None = None


async def ensure_unix_account(name: str, home_root: Path, shell: str) -> pwd.struct_passwd:
    """Create the account with a private (0700) home if it does not exist yet."""
    global _useradd_lock
    existing = lookup(name)
    if existing is not None:
        private_home(existing)
        return existing
    if _useradd_lock is None:
        _useradd_lock = asyncio.Lock()
    # useradd locks /etc/passwd and fails rather than waits when it is busy.
    async with _useradd_lock:
        existing = lookup(name)
        if existing is None:
            ensure_home_root(home_root)
            for attempt in range(LOCK_RETRIES):
                code, out = await _run(*useradd_argv(name, home_root, shell))
                existing = lookup(name)
                if existing is not None:
                    break
                if not is_lock_failure(out) or attempt == LOCK_RETRIES - 1:
                    raise AccountError(f"useradd failed ({code}): {out}")
                await asyncio.sleep(LOCK_PAUSE)
    assert existing is not None
    private_home(existing)
    return existing


async def delete_unix_account(name: str, remove_home: bool = False) -> None:
    if lookup(name) is None:
        return
    args = ["userdel"] + (["--remove"] if remove_home else []) + [name]
    code, out = await _run(*args)
    if code != 0:
        raise AccountError(f"{args[0]} failed ({code}): {out}")


async def _run(*args: str) -> tuple[int | None, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode, out.decode(errors="replace").strip()
