"""Real Unix accounts for people, made when they are imported or enrolled.

On the local backend every person who may start a server needs a Unix account with a
private home. Making it costs a `useradd` (tens of milliseconds of CPU, and it locks
`/etc/passwd`, so accounts are made one at a time). Made at the first start, that cost
falls into the first minute of a lecture, when the whole class starts at once; made
here, when the roster is imported or people are enrolled, it is paid beforehand. The
hub still checks at every start (hub/spawners/unix_accounts.py) for people who arrive
other ways (GitHub teams, LMS launches, the staff page): a lookup and a stat when the
account exists.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from coursehub.config.machine import effective_config
from coursehub.config.models import CoursehubConfig
from coursehub.core.errors import AccountError

MAX_UNIX_NAME = 32
# useradd fails rather than waits while another one holds /etc/passwd (the hub may be
# making an account for a start at the same moment): try again a few times.
LOCK_RETRIES = 5
LOCK_PAUSE = 0.2


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


def useradd_argv(name: str, home_root: Path, shell: str) -> list[str]:
    return [
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
    ]


def is_lock_failure(output: str) -> bool:
    return "lock" in output.lower()


def private_home(entry: pwd.struct_passwd) -> None:
    """The account's home exists, is its own and is 0700."""
    home = Path(entry.pw_dir)
    if not home.exists():
        home.mkdir(parents=True, mode=0o700)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    if home.stat().st_mode & 0o777 != 0o700:
        os.chmod(home, 0o700)


def ensure_unix_account(name: str, home_root: Path, shell: str) -> tuple[pwd.struct_passwd, bool]:
    """The account `name` with a private home, made if missing; (entry, made now)."""
    existing = lookup(name)
    made = existing is None
    if existing is None:
        ensure_home_root(home_root)
        for attempt in range(LOCK_RETRIES):
            done = subprocess.run(
                useradd_argv(name, home_root, shell), capture_output=True, text=True, check=False
            )
            existing = lookup(name)
            if existing is not None:
                break
            output = (done.stderr or done.stdout).strip()
            if not is_lock_failure(output) or attempt == LOCK_RETRIES - 1:
                raise AccountError(f"useradd failed ({done.returncode}): {output}")
            time.sleep(LOCK_PAUSE)
    assert existing is not None
    private_home(existing)
    return existing, made


@dataclass
class AccountsMade:
    """What ensure_for made: new Unix accounts, and those that could not be made."""

    made: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{len(self.made)} Unix account(s) made"] if self.made else []
        parts += [f"no Unix account for {name}: {why}" for name, why in self.failed.items()]
        return "; ".join(parts)


@dataclass(frozen=True)
class UnixAccounts:
    """The site's Unix accounts (spawn.local): `alice` runs as `<prefix>alice`."""

    prefix: str
    home_root: Path
    shell: str

    @classmethod
    def of_site(cls, config: CoursehubConfig) -> UnixAccounts | None:
        """The site's accounts, or None where servers do not run as people's own Unix
        accounts made here (demo mode, containers, clusters; not root)."""
        config = effective_config(config)
        if config.spawn.backend != "local":
            return None
        local = config.spawn.local
        return cls(local.user_prefix, local.home_root, local.shell)

    def ensure_for(self, usernames: Iterable[str]) -> AccountsMade:
        """Make the missing accounts of `usernames` (coursehub names). A failure is
        reported, not raised: the hub tries again when that person starts a server."""
        result = AccountsMade()
        for username in dict.fromkeys(usernames):
            try:
                name = system_username(self.prefix, username)
                if ensure_unix_account(name, self.home_root, self.shell)[1]:
                    result.made.append(name)
            except (AccountError, OSError) as exc:
                result.failed[username] = str(exc)
        return result
