"""Real Unix accounts for students, made on demand and idempotently."""

from __future__ import annotations

import asyncio
import os
import pwd
from pathlib import Path

from coursehub.core.errors import AccountError

MAX_UNIX_NAME = 32
_useradd_lock: asyncio.Lock | None = None


def system_username(prefix: str, hub_name: str) -> str:
    name = f"{prefix}{hub_name}"
    if len(name) > MAX_UNIX_NAME:
        raise AccountError(
            f"Unix account name {name!r} is longer than {MAX_UNIX_NAME} characters; "
            "use a shorter spawn.local.user_prefix or username"
        )
    return name


def lookup(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def ensure_home_root(home_root: Path) -> None:
    """Students may pass through the home root but not list who else is there."""
    if not home_root.exists():
        home_root.mkdir(parents=True, mode=0o711)
        os.chmod(home_root, 0o711)


async def ensure_unix_account(name: str, home_root: Path, shell: str) -> pwd.struct_passwd:
    """Create the account with a private (0700) home if it does not exist yet."""
    global _useradd_lock
    existing = lookup(name)
    if existing is not None:
        _private_home(Path(existing.pw_dir), existing)
        return existing
    if _useradd_lock is None:
        _useradd_lock = asyncio.Lock()
    # useradd locks /etc/passwd and fails rather than waits when it is busy.
    async with _useradd_lock:
        existing = lookup(name)
        if existing is None:
            ensure_home_root(home_root)
            await _run(
                "useradd",
                "--create-home",
                "--home-dir",
                str(home_root / name),
                "--shell",
                shell,
                "--user-group",
                "--no-log-init",
                "--comment",
                "coursehub student",
                "-K",
                "UMASK=0077",
                name,
            )
            existing = pwd.getpwnam(name)
    _private_home(Path(existing.pw_dir), existing)
    return existing


def _private_home(home: Path, entry: pwd.struct_passwd) -> None:
    if not home.exists():
        home.mkdir(parents=True, mode=0o700)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    if home.stat().st_mode & 0o777 != 0o700:
        os.chmod(home, 0o700)


async def delete_unix_account(name: str, remove_home: bool = False) -> None:
    if lookup(name) is None:
        return
    args = ["userdel"] + (["--remove"] if remove_home else []) + [name]
    await _run(*args)


async def _run(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise AccountError(f"{args[0]} failed ({proc.returncode}): {out.decode(errors='replace')}")
