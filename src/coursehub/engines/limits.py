"""Per-student resource limits: cgroups where the kernel lets us, rlimits always.

With systemd as PID 1 the same limits would be set through systemd; on machines
without it (containers, this kind of host) coursehub writes the cgroup files
itself. Whatever cannot be enforced is reported, never silently skipped.
"""

from __future__ import annotations

import contextlib
import os
import resource
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "coursehub"
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    memory: int | None = None  # bytes
    cpu: float | None = None  # cores
    processes: int | None = None
    file_size: int | None = None  # bytes


class Cgroups:
    """Create, fill and remove one cgroup per student server."""

    def __init__(self, root: Path = CGROUP_ROOT):
        self.root = root
        self.v2 = (root / "cgroup.controllers").exists()

    def controllers(self) -> set[str]:
        """Which of memory, cpu, pids we can write here."""
        if os.geteuid() != 0:
            return set()
        if self.v2:
            try:
                available = set((self.root / "cgroup.controllers").read_text().split())
            except OSError:
                return set()
            return available & {"memory", "cpu", "pids"} if os.access(self.root, os.W_OK) else set()
        return {c for c in ("memory", "cpu", "pids") if os.access(self.root / c, os.W_OK)}

    def enforced(self, limits: Limits) -> dict[str, bool]:
        ctl = self.controllers()
        return {
            "memory": limits.memory is not None and "memory" in ctl,
            "cpu": limits.cpu is not None and "cpu" in ctl,
            "processes": limits.processes is not None,  # rlimit as a fallback
            "file_size": limits.file_size is not None,
        }

    def prepare(self, unit: str, limits: Limits) -> list[Path]:
        """Make the cgroup for `unit`, write its limits, return the files to join."""
        ctl = self.controllers()
        procs: list[Path] = []
        if self.v2:
            if not ctl:
                return []
            self._enable_v2(ctl)
            path = self.root / GROUP / unit
            path.mkdir(parents=True, exist_ok=True)
            if limits.memory and "memory" in ctl:
                _write(path / "memory.max", str(limits.memory))
                _write(path / "memory.swap.max", "0", optional=True)
            if limits.cpu and "cpu" in ctl:
                _write(path / "cpu.max", f"{int(limits.cpu * CPU_PERIOD_US)} {CPU_PERIOD_US}")
            if limits.processes and "pids" in ctl:
                _write(path / "pids.max", str(limits.processes))
            return [path / "cgroup.procs"]
        for name in sorted(ctl):
            path = self.root / name / GROUP / unit
            path.mkdir(parents=True, exist_ok=True)
            if name == "memory" and limits.memory:
                _write(path / "memory.limit_in_bytes", str(limits.memory))
                _write(path / "memory.memsw.limit_in_bytes", str(limits.memory), optional=True)
            elif name == "cpu" and limits.cpu:
                _write(path / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(path / "cpu.cfs_quota_us", str(int(limits.cpu * CPU_PERIOD_US)))
            elif name == "pids" and limits.processes:
                _write(path / "pids.max", str(limits.processes))
            procs.append(path / "cgroup.procs")
        return procs

    def remove(self, unit: str) -> None:
        """Remove the unit's cgroups once empty (a busy cgroup is left for next time)."""
        dirs = (
            [self.root / GROUP / unit]
            if self.v2
            else [self.root / c / GROUP / unit for c in ("memory", "cpu", "pids")]
        )
        for d in dirs:
            with contextlib.suppress(OSError):
                d.rmdir()

    def _enable_v2(self, ctl: set[str]) -> None:
        parent = self.root / GROUP
        parent.mkdir(exist_ok=True)
        wanted = " ".join(f"+{c}" for c in sorted(ctl))
        _write(self.root / "cgroup.subtree_control", wanted, optional=True)
        _write(parent / "cgroup.subtree_control", wanted, optional=True)


def systemd_is_init() -> bool:
    """True when systemd is PID 1 (it then owns the cgroup tree)."""
    return Path("/run/systemd/system").is_dir()


def systemd_run_prefix(unit: str, limits: Limits, uid: int, gid: int) -> list[str]:
    """`systemd-run --scope` wrapping a server: systemd makes the cgroup, sets the
    limits and switches to the student's account (with their groups) before exec."""
    cmd = [
        "systemd-run",
        "--scope",
        "--quiet",
        "--collect",
        f"--unit=coursehub-{unit}",
        f"--uid={uid}",
        f"--gid={gid}",
    ]
    if limits.memory:
        cmd += ["-p", f"MemoryMax={limits.memory}", "-p", "MemorySwapMax=0"]
    if limits.cpu:
        cmd += ["-p", f"CPUQuota={round(limits.cpu * 100)}%"]
    if limits.processes:
        cmd += ["-p", f"TasksMax={limits.processes}"]
    return [*cmd, "--"]


def systemd_adopt_command(unit: str, limits: Limits, pid: int) -> list[str]:
    """busctl's StartTransientUnit making `coursehub-<unit>.scope` with these limits
    around a process that already runs (a server forked by the template, before it
    drops to the student), as `systemd-run --scope` does around a new one."""
    props: list[tuple[str, str, str]] = [("PIDs", "au", f"1 {pid}")]
    if limits.memory:
        props += [("MemoryMax", "t", str(limits.memory)), ("MemorySwapMax", "t", "0")]
    if limits.cpu:
        props.append(("CPUQuotaPerSecUSec", "t", str(round(limits.cpu * 1_000_000))))
    if limits.processes:
        props.append(("TasksMax", "t", str(limits.processes)))
    props.append(("CollectMode", "s", "inactive-or-failed"))
    cmd = [
        "busctl",
        "call",
        "--quiet",
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "StartTransientUnit",
        "ssa(sv)a(sa(sv))",
        f"coursehub-{unit}.scope",
        "fail",
        str(len(props)),
    ]
    for name, kind, value in props:
        cmd += [name, kind, *value.split(" ")]
    return [*cmd, "0"]


def _write(path: Path, value: str, optional: bool = False) -> None:
    try:
        path.write_text(value)
    except OSError:
        if not optional:
            raise


def apply_in_child(procs_files: list[Path], limits: Limits, set_nproc: bool) -> None:
    """Run in the forked child before exec: join cgroups, then set rlimits.

    Only async-signal-safe-ish work here: plain writes and setrlimit calls.
    """
    pid = str(os.getpid()).encode()
    for f in procs_files:
        fd = os.open(f, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.file_size:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
    if set_nproc and limits.processes:
        # Per real uid: with one Unix account per student this caps that student.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
