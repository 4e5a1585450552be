"""How many course servers fit in memory: measured, not guessed.

A warmed student costs a course server now and a kernel when they click (`per student`
below). Both are measured on the servers and kernels already running on this machine,
as their PSS (proportional set size, /proc/<pid>/smaps_rollup): a forked server shares
most of its pages with the server template, and PSS charges each sharer its part of
them, so the sum over servers is what they really take. The median of the running
ones is used; with none running, warmup.server_memory / kernel_memory stand in.

A course server is a process of a student's account running
coursehub.student.singleuser whose parent is the server template or the hub (both
root); a kernel is a student's child of such a server running ipykernel, or a
student's child of a kernel template (forked kernels keep the template's command
line). Parentage is what a student cannot fake: a process of theirs named like a
server is still their own child, or init's once orphaned, so it is not sampled and
cannot drag the estimate down. A student can still name a child of their server
"ipykernel" from a terminal, so each account gives one sample, its largest: planted
small processes cannot lower it, and one account's outlier cannot move the median.
(Cold starts through systemd-run are children of
systemd: not sampled either; forked servers, the default, are.)
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path

SERVER_MARK = b"coursehub.student.singleuser"
SERVER_PARENTS = (b"coursehub.forking.servers.template", b"jupyterhub")
KERNEL_TEMPLATE_MARK = b"forking/kernels/template.py"
KERNEL_MARK = b"ipykernel"
MAX_SAMPLES = 32  # accounts measured for each kind: a median needs no more
MAX_PER_ACCOUNT = 8  # processes of one account looked at for its sample


@dataclass(frozen=True)
class MemoryFigures:
    """What this machine has, and what its running servers and kernels take (bytes)."""

    available: int  # MemAvailable
    server_samples: tuple[int, ...]
    kernel_samples: tuple[int, ...]


@dataclass(frozen=True)
class PerStudent:
    server: int
    kernel: int
    server_measured: int  # how many running servers the figure comes from (0: default)
    kernel_measured: int

    @property
    def total(self) -> int:
        return self.server + self.kernel


@dataclass(frozen=True)
class Bound:
    """How many more students' servers fit: floor((available - reserve) / per student)."""

    available: int
    reserve: int
    per_student: PerStudent

    @property
    def fits(self) -> int:
        room = self.available - self.reserve
        return max(0, room // max(1, self.per_student.total))


def per_student(figures: MemoryFigures, server_default: int, kernel_default: int) -> PerStudent:
    """The median running server and kernel, or the defaults where none runs."""
    servers, kernels = figures.server_samples, figures.kernel_samples
    return PerStudent(
        server=int(statistics.median(servers)) if servers else server_default,
        kernel=int(statistics.median(kernels)) if kernels else kernel_default,
        server_measured=len(servers),
        kernel_measured=len(kernels),
    )


def bound(figures: MemoryFigures, reserve: int, server_default: int, kernel_default: int) -> Bound:
    return Bound(figures.available, reserve, per_student(figures, server_default, kernel_default))


def measure(proc: Path = Path("/proc")) -> MemoryFigures:
    """MemAvailable and the PSS of (up to MAX_SAMPLES) running servers and kernels."""
    processes = _processes(proc)
    servers: dict[int, list[int]] = {}  # uid -> its server pids
    for pid, (uid, ppid, cmdline) in sorted(processes.items()):
        if uid != 0 and SERVER_MARK in cmdline and _started_by_hub(processes, ppid):
            servers.setdefault(uid, []).append(pid)
    server_pids = {pid for pids in servers.values() for pid in pids}
    kernels: dict[int, list[int]] = {}
    for pid, (uid, ppid, cmdline) in sorted(processes.items()):
        if uid == 0 or ppid not in processes:
            continue
        parent_uid, _, parent_cmdline = processes[ppid]
        forked = parent_uid == 0 and KERNEL_TEMPLATE_MARK in parent_cmdline
        if forked or (ppid in server_pids and KERNEL_MARK in cmdline):
            kernels.setdefault(uid, []).append(pid)
    return MemoryFigures(
        available=available_memory(proc),
        server_samples=_sizes(proc, servers),
        kernel_samples=_sizes(proc, kernels),
    )


def available_memory(proc: Path = Path("/proc")) -> int:
    """MemAvailable of /proc/meminfo, in bytes (0 when it cannot be read)."""
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def pss(proc: Path, pid: int) -> int | None:
    """The process's PSS in bytes; None when it is gone or cannot be read."""
    try:
        text = (proc / str(pid) / "smaps_rollup").read_text()
    except (OSError, ValueError):
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            try:
                return int(line.split()[1]) * 1024
            except (ValueError, IndexError):
                return None
    return None


def _sizes(proc: Path, by_account: dict[int, list[int]]) -> tuple[int, ...]:
    """One sample per account (its largest process), for up to MAX_SAMPLES accounts."""
    found: list[int] = []
    for uid in sorted(by_account):
        if len(found) >= MAX_SAMPLES:
            break
        sizes = [pss(proc, pid) or 0 for pid in by_account[uid][:MAX_PER_ACCOUNT]]
        if max(sizes, default=0):
            found.append(max(sizes))
    return tuple(found)


def _started_by_hub(processes: dict[int, tuple[int, int, bytes]], pid: int) -> bool:
    """Whether `pid` is the server template or the hub: root, with their command line."""
    entry = processes.get(pid)
    return entry is not None and entry[0] == 0 and any(m in entry[2] for m in SERVER_PARENTS)


def _processes(proc: Path) -> dict[int, tuple[int, int, bytes]]:
    """pid -> (real uid, parent pid, command line) of every process that can be read."""
    found: dict[int, tuple[int, int, bytes]] = {}
    try:
        names = os.listdir(proc)
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        base = proc / name
        try:
            status = (base / "status").read_text()
            cmdline = (base / "cmdline").read_bytes()
        except OSError:
            continue  # gone in between
        uid = ppid = None
        for line in status.splitlines():
            if line.startswith("Uid:"):
                uid = int(line.split()[1])
            elif line.startswith("PPid:"):
                ppid = int(line.split()[1])
        if uid is not None and ppid is not None:
            found[int(name)] = (uid, ppid, cmdline)
    return found
