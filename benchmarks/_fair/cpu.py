"""Where the CPU went during a storm: the whole machine, and a per-process breakdown.

The headline is the whole machine's busy time from ``/proc/stat`` (user + nice + system
+ irq + softirq, in CPU-seconds) between two readings: every process counts, including
the ones that lived for a few milliseconds (``useradd``, ``git``), and the kernel's own
work for them (system, irq, softirq). The benchmark's own process (its simulated
students) is read from ``/proc/self/stat`` and taken out: in a real lecture that work
happens in the students' browsers.

The breakdown samples every process every ``interval`` seconds in a thread: its own CPU
(utime + stime) and what its reaped children used (cutime + cstime). A process seen in
the window counts from its first sighting (or from zero if it started inside it); a
parent's reaped-children time that no sighted child explains becomes a row "short-lived
children of <kind>". What no row explains (processes missed between samples, kernel
threads) is "unattributed", so the rows always add up to the machine's figure. Processes that
are neither descendants of the benchmark (the hubs it started, their servers and
kernels) nor run by the students' accounts are one row, "other work": if it is not
near zero, something else ran on the machine during the storm; the per-student figure
leaves it out.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
DRIVER = "benchmark driver"
UNATTRIBUTED = "unattributed"

# (kind, marks in the command line): the first kind with a mark found wins.
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("accounts (useradd, userdel, chpasswd)",
     ("useradd", "userdel", "usermod", "groupadd", "chpasswd", "unix_chkpwd")),
    ("server template", ("coursehub.forking.servers.template",)),
    ("kernel template", ("forking/kernels/template.py", "coursehub.forking.kernels.template")),
    ("kernels", ("ipykernel",)),
    ("student servers", ("coursehub.student.singleuser", "jupyterhub-singleuser", "singleuser")),
    ("coursehub service", ("coursehub.service",)),
    ("proxy", ("configurable-http-proxy",)),
    ("git", ("git-upload-pack", "git-daemon", "git ", "/git")),
    ("pip", ("/bin/pip", "-m pip")),
    ("coursehub up (supervisor)", ("coursehub --config", "coursehub up")),
    ("hub", ("jupyterhub",)),
)  # fmt: skip
# A forked server or kernel keeps its template's command line; once it became a student
# (not root) it is a server or kernel.
AS_STUDENT = {"server template": "student servers", "kernel template": "kernels"}


def machine_busy_s() -> float:
    """CPU-seconds the whole machine has been busy since boot (all cores)."""
    fields = (PROC / "stat").read_text().splitlines()[0].split()
    assert fields[0] == "cpu", "unexpected /proc/stat"
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    return (user + nice + system + irq + softirq) / TICK


def own_cpu_s() -> float:
    """CPU-seconds of this process (every thread), its children not included."""
    t = os.times()
    return t.user + t.system


def cores() -> int:
    return os.cpu_count() or 1


OTHER_WORK = "other work (not this benchmark's processes)"


@dataclass(frozen=True)
class Sample:
    kind: str
    ppid: int
    uid: int
    own: float  # utime + stime, seconds
    reaped: float  # cutime + cstime: children it waited for


Key = tuple[int, int]  # (pid, start time in ticks): a pid reused is another process


def classify(cmdline: str, uid: int) -> str:
    for kind, marks in KINDS:
        if any(mark in cmdline for mark in marks):
            return AS_STUDENT.get(kind, kind) if uid != 0 else kind
    return "other"


def _read(pid: int) -> tuple[Key, int, float, float] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rfind(")") + 2 :].split()
    ppid, utime, stime, cutime, cstime, start = (int(rest[i]) for i in (1, 11, 12, 13, 14, 19))
    return (pid, start), ppid, (utime + stime) / TICK, (cutime + cstime) / TICK


def _cmdline(pid: int) -> tuple[str, int] | None:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
        cmd = raw.replace(b"\0", b" ").decode(errors="replace")
        uid = (PROC / str(pid)).stat().st_uid
    except OSError:
        return None
    return cmd, uid


class ProcessSampler:
    """Samples every process in a thread between ``start`` and ``stop``."""

    def __init__(
        self, interval: float = 0.2, classify: Callable[[str, int], str] = classify
    ) -> None:
        self.interval = interval
        self._classify = classify
        self._kinds: dict[Key, tuple[str, int]] = {}  # kind, uid
        self.commands: dict[Key, str] = {}  # of processes of kind "other": what they are
        # whose processes are this benchmark's: its own descendants (the hubs it started,
        # their servers and kernels) and any process of these accounts (the students')
        self.site_uids: set[int] = set()
        self.first: dict[Key, Sample] = {}  # present when the window opened
        self.last: dict[Key, Sample] = {}
        self.born: set[Key] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._me = os.getpid()

    def scan(self) -> dict[Key, Sample]:
        seen: dict[Key, Sample] = {}
        for name in os.listdir(PROC):
            if not name.isdigit() or int(name) == self._me:
                continue
            read = _read(int(name))
            if read is None:
                continue
            key, ppid, own, reaped = read
            known = self._kinds.get(key)
            if known is None:
                found = _cmdline(key[0])
                if found is None:
                    continue
                # kernel threads have an empty command line
                known = (self._classify(*found) if found[0] else "kernel threads", found[1])
                self._kinds[key] = known
                if known[0] == "other":
                    self.commands[key] = found[0][:100]
            seen[key] = Sample(known[0], ppid, known[1], own, reaped)
        return seen

    def start(self) -> None:
        self.first = self.scan()
        self.last = dict(self.first)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._merge(self.scan())

    def _merge(self, seen: dict[Key, Sample]) -> None:
        for key, sample in seen.items():
            if key not in self.first:
                self.born.add(key)
            self.last[key] = sample

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._merge(self.scan())

    def _ours(self) -> set[int]:
        parent = {key[0]: sample.ppid for key, sample in {**self.first, **self.last}.items()}
        ours: set[int] = set()
        for pid in parent:
            chain: list[int] = []
            p = pid
            while p not in (0, 1) and p != self._me and p not in ours and len(chain) < 64:
                chain.append(p)
                p = parent.get(p, 0)
            if p == self._me or p in ours:
                ours.update(chain)
        return ours

    def breakdown(self) -> dict[str, float]:
        """CPU-seconds per kind over the window (not yet including "unattributed")."""
        rows: dict[str, float] = {}
        self.other_commands: dict[str, float] = {}
        alive = self.scan().keys()
        ours = self._ours()
        kind_of = {key: (s.kind if key[0] in ours or s.uid in self.site_uids else OTHER_WORK)
                   for key, s in self.last.items()}  # fmt: skip
        explained: dict[int, float] = {}  # parent pid -> CPU of its sighted, gone children
        for key, last in self.last.items():
            first = self.first.get(key)
            own = last.own - (first.own if first else 0.0)
            rows[kind_of[key]] = rows.get(kind_of[key], 0.0) + max(0.0, own)
            if kind_of[key] == "other" and own > 0:
                cmd = self.commands.get(key, "?")
                self.other_commands[cmd] = self.other_commands.get(cmd, 0.0) + own
            if key not in alive:
                # its parent's reaped time grows by its whole life, not only the window
                explained[last.ppid] = explained.get(last.ppid, 0.0) + last.own + last.reaped
        for key, last in self.last.items():
            first = self.first.get(key)
            reaped = last.reaped - (first.reaped if first else 0.0)
            unseen = reaped - explained.get(key[0], 0.0)
            if unseen > 0.005:
                row = (OTHER_WORK if kind_of[key] == OTHER_WORK
                       else f"short-lived children of {last.kind}")  # fmt: skip
                rows[row] = rows.get(row, 0.0) + unseen
        return {k: v for k, v in rows.items() if v > 0}


@dataclass
class CpuWindow:
    """Whole-machine CPU over one window (e.g. first click → last result), per student."""

    students: int
    sample: bool = True
    interval: float = 0.2
    machine_s: float = 0.0
    driver_s: float = 0.0
    wall_s: float = 0.0
    rows: dict[str, float] = field(default_factory=dict)
    _t0: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _sampler: ProcessSampler | None = None
    running: bool = False
    site_uids: set[int] = field(default_factory=set)  # the students' accounts
    other_commands: dict[str, float] = field(default_factory=dict)  # the "other" row's top

    def start(self) -> None:
        # machine first, processes after (and the reverse at the end): the rows then
        # cover a little less than the machine's window, never more
        self._t0 = (machine_busy_s(), own_cpu_s(), time.perf_counter())
        if self.sample:
            self._sampler = ProcessSampler(self.interval)
            self._sampler.site_uids = self.site_uids
            self._sampler.start()
        self.running = True

    def stop(self) -> None:
        if not self.running:
            return
        w1 = time.perf_counter()
        if self._sampler is not None:
            self._sampler.stop()
        m1, d1 = machine_busy_s(), own_cpu_s()
        self.running = False
        self.machine_s = m1 - self._t0[0]
        self.driver_s = d1 - self._t0[1]
        self.wall_s = w1 - self._t0[2]
        if self._sampler is not None:
            self.rows = self._sampler.breakdown()
            top = sorted(self._sampler.other_commands.items(), key=lambda kv: -kv[1])[:5]
            self.other_commands = {cmd: round(cpu, 3) for cmd, cpu in top}
            self.rows.pop(DRIVER, None)
            explained = sum(self.rows.values())
            self.rows[UNATTRIBUTED] = max(0.0, self.site_s - explained)

    @property
    def site_s(self) -> float:
        """The machine's CPU less the benchmark's own process (the students' browsers)."""
        return max(0.0, self.machine_s - self.driver_s)

    @property
    def other_work_s(self) -> float:
        return self.rows.get(OTHER_WORK, 0.0)

    @property
    def per_student_s(self) -> float:
        """The site's CPU per student: the machine's, less the benchmark's own process and
        less what other work on the machine was seen to use (sampled: a lower bound, so
        some of it may remain)."""
        return max(0.0, self.site_s - self.other_work_s) / max(1, self.students)

    def as_dict(self) -> dict[str, Any]:
        return {
            "students": self.students,
            "wall_s": round(self.wall_s, 3),
            "cores": cores(),
            "machine_cpu_s": round(self.machine_s, 3),
            "driver_cpu_s": round(self.driver_s, 3),
            "site_cpu_s": round(self.site_s, 3),
            "other_work_cpu_s": round(self.other_work_s, 3),
            "unclassified_commands_cpu_s": self.other_commands,
            "site_cpu_per_student_s": round(self.per_student_s, 4),
            "by_kind_cpu_s": {k: round(v, 3) for k, v in sorted(self.rows.items(),
                                                                key=lambda kv: -kv[1])},
        }  # fmt: skip

    def describe(self) -> str:
        parts = ", ".join(
            f"{k} {v:.1f}" for k, v in sorted(self.rows.items(), key=lambda kv: -kv[1]) if v >= 0.05
        )
        return (
            f"CPU {self.per_student_s:.2f} CPU-s per student (machine {self.machine_s:.1f} of "
            f"{self.wall_s * cores():.1f} available in {self.wall_s:.1f} s, less the "
            f"benchmark's own {self.driver_s:.1f} and other work {self.other_work_s:.1f})"
            + (f"; by process: {parts}" if parts else "")
        )
