"""Is a server process that is not our child still running? /proc says.

A server forked by the template, or one still running across a hub restart, is not
the hub's child: the hub cannot wait() for it, and a dead one may linger as a zombie
until its parent reaps it, so "the pid exists" is not enough.
"""

from __future__ import annotations

from pathlib import Path


class ProcessGone(Exception):
    """No such process, or only its zombie."""


def process_start_time(pid: int, proc: Path = Path("/proc")) -> int:
    """The process's start time (clock ticks after boot): with the pid, it names one
    process for good, since a reused pid comes with a later start time."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(pid) from None
    # "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        raise ProcessGone(pid)
    return int(fields[19])
