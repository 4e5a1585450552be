"""Run one grading process and measure it: wall time per phase, peak memory of its
whole process tree per phase, CPU seconds.

A measured process may mark its phases by printing JSON lines on stdout
(``mark("main")`` below); each line carries its wall clock and the CPU seconds it
and its reaped children used so far. Its last line may be ``{"result": ...}``.
Everything else it writes goes to a log file.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

SAMPLE_EVERY = 0.05  # seconds between memory samples


class MeasureError(RuntimeError):
    """A measured process failed or ran past its time limit."""


def cpu_seconds() -> float:
    """User + system CPU of this process and its reaped children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def mark(phase: str, **extra: Any) -> None:
    """In a measured process: a new phase starts now."""
    line = {"mark": phase, "t": time.time(), "cpu": cpu_seconds(), "load": os.getloadavg()[0]}
    line.update(extra)
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def result(value: Any) -> None:
    sys.stdout.write(json.dumps({"result": value}) + "\n")
    sys.stdout.flush()


def tree_rss(root: psutil.Process) -> int:
    """Resident memory of `root` and all its descendants, in bytes (shared pages count
    once per process, as in top's RES column summed)."""
    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


@dataclass
class Measured:
    wall_s: float  # whole process
    cpu_s: float  # whole process tree (reaped descendants)
    marks: list[dict[str, Any]] = field(default_factory=list)
    peak_rss: dict[str, int] = field(default_factory=dict)  # phase → bytes ("" before a mark)
    result: Any = None
    returncode: int = 0

    def phase(self, name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The mark that starts `name` and the one after it (None: the process end)."""
        for i, m in enumerate(self.marks):
            if m["mark"] == name:
                return m, self.marks[i + 1] if i + 1 < len(self.marks) else None
        raise MeasureError(f"the process never reached phase {name!r}")


def run_measured(
    argv: Sequence[str],
    *,
    log: Path,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    on_start: Any = None,
    on_mark: Callable[[str], None] | None = None,
) -> Measured:
    """Run argv to the end (in its own session), sampling its tree's memory.

    on_mark(phase) is called (from a reader thread) as each mark arrives, e.g. to start
    and stop a whole-machine CPU window. Raises MeasureError when it exits non-zero or
    outlives `timeout` (then its whole process group is killed). On KeyboardInterrupt it
    is stopped with SIGTERM first (so it can clean up), then SIGKILL after 60 s.
    """
    before_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    marks: list[dict[str, Any]] = []
    peaks: dict[str, int] = {}
    found: list[Any] = []
    with log.open("ab") as err:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
    if on_start is not None:
        on_start(proc)

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                with log.open("ab") as f:
                    f.write(raw)
                continue
            if "mark" in line:
                marks.append(line)
                if on_mark is not None:
                    on_mark(line["mark"])
            elif "result" in line:
                found.append(line["result"])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    root = psutil.Process(proc.pid)
    try:
        while proc.poll() is None:
            phase = marks[-1]["mark"] if marks else ""
            rss = tree_rss(root)
            peaks[phase] = max(peaks.get(phase, 0), rss)
            if time.monotonic() - started > timeout:
                stop(proc, grace=10)
                raise MeasureError(
                    f"{os.path.basename(argv[1] if len(argv) > 1 else argv[0])} ran longer than "
                    f"{timeout:.0f} s and was stopped (its log: {log})"
                )
            time.sleep(SAMPLE_EVERY)
    except BaseException:
        stop(proc, grace=60)
        raise
    reader.join(timeout=10)
    wall = time.monotonic() - started
    after_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after_cpu.ru_utime + after_cpu.ru_stime) - (before_cpu.ru_utime + before_cpu.ru_stime)
    measured = Measured(wall, cpu, marks, peaks, found[-1] if found else None, proc.returncode)
    if proc.returncode != 0:
        raise MeasureError(
            f"{' '.join(argv[:3])} … exited with status {proc.returncode}; "
            f"the end of its log ({log}):\n{_tail(log)}"
        )
    return measured


def stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, wait up to `grace` s, then SIGKILL it, and any of its
    descendants still running (kernels run in sessions of their own)."""
    if proc.poll() is not None:
        return
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            child.kill()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
