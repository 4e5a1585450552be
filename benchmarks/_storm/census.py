"""Where the machine's CPU went during a storm: CPU-seconds per kind of process.

A snapshot before and one after; processes started in between count from zero, those
that exited in between are lost (their CPU shows up in no row, only in the machine's
busy total, so the rows may add up to less than that total).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

KINDS = (
    ("server template", ("coursehub.forking.servers.template",)),
    ("student servers", ("coursehub.student.singleuser", "jupyterhub-singleuser")),
    ("kernels", ("ipykernel", "forking/kernels/template.py")),
    ("coursehub service", ("coursehub.service",)),
    ("proxy", ("configurable-http-proxy",)),
    ("hub", ("jupyterhub",)),
)


@dataclass(frozen=True)
class Snapshot:
    per_pid: dict[int, tuple[str, float]]
    busy: float  # CPU-seconds the whole machine has been busy since boot
    cores: int


def _kind(proc: psutil.Process) -> str:
    if proc.pid == os.getpid():
        return "benchmark driver"
    cmd = " ".join(proc.info["cmdline"] or [])
    for kind, marks in KINDS:
        if any(mark in cmd for mark in marks):
            return kind
    return "other"


def snapshot() -> Snapshot:
    per_pid: dict[int, tuple[str, float]] = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            times = proc.cpu_times()
            per_pid[proc.pid] = (_kind(proc), times.user + times.system)
        except psutil.Error:
            continue
    total = psutil.cpu_times()
    busy = total.user + total.system + total.nice + total.irq + total.softirq
    return Snapshot(per_pid, busy, psutil.cpu_count() or 1)


def breakdown(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU-seconds per kind between the two snapshots, plus the machine's busy total."""
    rows: dict[str, float] = {}
    for pid, (kind, cpu) in after.per_pid.items():
        start = before.per_pid.get(pid)
        spent = cpu - start[1] if start is not None and start[0] == kind else cpu
        if start is None or start[0] == kind:
            rows[kind] = rows.get(kind, 0.0) + max(0.0, spent)
    rows["machine busy (all processes)"] = after.busy - before.busy
    return rows


def describe(rows: dict[str, float], wall_s: float, cores: int, students: int) -> str:
    total = rows.get("machine busy (all processes)", 0.0)
    parts = [
        f"{kind} {cpu:.1f}"
        for kind, cpu in sorted(rows.items(), key=lambda kv: -kv[1])
        if kind != "machine busy (all processes)" and cpu >= 0.05
    ]
    return (
        f"CPU during the storm (CPU-s): {', '.join(parts)}; machine busy {total:.1f} of "
        f"{wall_s * cores:.1f} available ({cores} cores × {wall_s:.1f} s), "
        f"{total / max(1, students):.2f} per student"
    )
