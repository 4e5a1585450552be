"""Throw-away Unix accounts, always named with a random per-run prefix.

Everything here is keyed on that prefix so cleanup can sweep whatever a run made
(even one interrupted half-way) and never touch anybody else's accounts.
"""

from __future__ import annotations

import pwd
import secrets
import subprocess
from dataclasses import dataclass

import psutil

from _storm.procs import kill_processes, run_checked


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def random_prefix(kind: str) -> str:
    """e.g. 'lsb3f2a-': short, unique per run, valid for useradd and coursehub."""
    return f"{kind}{secrets.token_hex(2)}-"


def make_credentials(n: int, prefix: str = "") -> list[Credentials]:
    width = max(2, len(str(n)))
    return [
        Credentials(f"{prefix}s{i:0{width}d}", secrets.token_urlsafe(12)) for i in range(1, n + 1)
    ]


def create(creds: list[Credentials]) -> None:
    for c in creds:
        run_checked(["useradd", "--create-home", "--shell", "/bin/bash", c.username])
    run_checked(["chpasswd"], input="".join(f"{c.username}:{c.password}\n" for c in creds))


def names_with_prefix(prefix: str) -> list[str]:
    return sorted(p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(prefix))


def sweep(prefix: str) -> list[str]:
    """Kill the processes of, then delete (with homes), every account named prefix*.

    Returns the names it tried to delete.
    """
    names = names_with_prefix(prefix)
    uids = {pwd.getpwnam(n).pw_uid for n in names}
    # userdel refuses while the user still runs something (e.g. an orphaned server)
    kill_processes(
        [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real in uids]
    )
    for name in names:
        # not checked: userdel also fails on harmless things (no mail spool); what counts
        # is whether the account is gone, which the caller checks with names_with_prefix
        subprocess.run(["userdel", "--remove", name], capture_output=True, check=False, timeout=60)
    return names
