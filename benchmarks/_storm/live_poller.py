"""Baselines of the live class benchmark: a PipalHub-style polling rebuild.

Every `period` seconds (PipalHub's 5, or 1) it walks every student's directory, reads
and parses each student's notebook with nbformat (which validates it, as a notebook
reader does), rebuilds that student's tail page as HTML (the same ``tail_of`` the
service's dashboard uses, rendered as plain HTML: cheaper than nbconvert, so the
baseline is, if anything, favoured) and writes it to the output directory. It notes
the moment each (student, sha256 of the file) first appears in a rebuilt page. The
inotify baseline (live_watcher.py) rebuilds the same page the same way, on each save.

It runs in a process of its own (``python -m _storm.live_poller``, started by
``poller()`` below) so that its CPU can be read on its own, and appends what it saw
to a JSON-lines file after each pass: ``{"user", "sha256", "seen_at"}`` per new
version and ``{"pass", "started", "ended", "notebooks"}`` per pass (epoch seconds:
the benchmark compares them with the students' save times, same machine, same clock).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1]


def render(user: str, tail: dict[str, Any]) -> str:
    """A student's tail page: the last cells run, their outputs, the summary."""
    s = tail["summary"]
    parts = [
        f"<!doctype html><title>{html.escape(user)}</title><h1>{html.escape(user)}</h1>",
        f"<p>{s['executed']} of {s['cells']} cells run, {s['errors']} with errors"
        + (f", last error {html.escape(s['last_error'])}" if s["last_error"] else "")
        + (", finished" if s["finished"] else "")
        + "</p>",
    ]
    for cell in tail["cells"]:
        count = "" if cell["count"] is None else f"[{cell['count']}]"
        parts.append(
            f'<div class="cell {cell["type"]}"><span>{count}</span>'
            f"<pre>{html.escape(cell['source'])}</pre>"
        )
        for out in cell["outputs"]:
            parts.append(f'<pre class="{out["kind"]}">{html.escape(out["text"])}</pre>')
        parts.append("</div>")
    return "\n".join(parts) + "\n"


def rebuild(
    home: Path, notebook: str, out: Path, seen: dict[str, str], records: list[dict[str, Any]]
) -> bool:
    """Rebuild one student's page from their notebook; whether there was one to read."""
    import nbformat

    from coursehub.core.notebook_tail import tail_of

    try:
        data = (home / notebook).read_bytes()
    except OSError:
        return False
    digest = hashlib.sha256(data).hexdigest()
    nb = nbformat.reads(data.decode(), as_version=4)
    page = render(home.name, tail_of(nb))
    target = out / f"{home.name}.html"
    tmp = target.with_name(f".~{target.name}")
    tmp.write_text(page)
    os.replace(tmp, target)
    if seen.get(home.name) != digest:
        seen[home.name] = digest
        records.append({"user": home.name, "sha256": digest, "seen_at": time.time()})
    return True


def one_pass(
    students: Path, notebook: str, out: Path, seen: dict[str, str], records: list[dict[str, Any]]
) -> int:
    homes = sorted(p for p in students.iterdir() if p.is_dir())
    return sum(rebuild(home, notebook, out, seen, records) for home in homes)


def poll(students: Path, notebook: str, out: Path, log: Path, start: float, period: float,
         stop_at: float) -> None:  # fmt: skip
    """Pass k starts at start + k * period (at once if the previous pass overran)."""
    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, str] = {}
    k = 0
    with log.open("a") as f:
        while True:
            due = start + k * period
            now = time.time()
            if due > now:
                time.sleep(due - now)
            if time.time() >= stop_at:
                return
            started = time.time()
            records: list[dict[str, Any]] = []
            n = one_pass(students, notebook, out, seen, records)
            records.append({"pass": k, "started": started, "ended": time.time(), "notebooks": n})
            f.write("".join(json.dumps(r) + "\n" for r in records))
            f.flush()
            # the next tick; when this pass overran it, the next pass starts at once
            k = max(k + 1, int((time.time() - start) // period))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="PipalHub-style polling rebuild of tail pages")
    p.add_argument("--students", type=Path, required=True, help="one directory per student")
    p.add_argument("--notebook", required=True, help="notebook path inside each directory")
    p.add_argument("--out", type=Path, required=True, help="where the pages are written")
    p.add_argument("--log", type=Path, required=True, help="JSON lines of what was seen")
    p.add_argument("--start", type=float, required=True, help="epoch of the first pass")
    p.add_argument("--period", type=float, default=5.0)
    p.add_argument("--stop-at", type=float, required=True, help="epoch: no pass after this")
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    warm_up()
    with a.log.open("a") as f:
        f.write(json.dumps({"ready": time.time()}) + "\n")
    poll(a.students, a.notebook, a.out, a.log, a.start, a.period, a.stop_at)
    return 0


def warm_up() -> None:
    """Imports and nbformat's first validation (it compiles its schema) before the first
    page: start-up is not part of the work measured."""
    import nbformat

    import coursehub.core.notebook_tail  # noqa: F401

    nbformat.reads('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', 4)


# --------------------------------------------------------------------------- launcher


@dataclass
class PollerRun:
    pid: int
    log: Path
    first_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    passes: list[dict[str, Any]] = field(default_factory=list)
    ready_at: float | None = None

    def read(self) -> None:
        self.first_seen.clear()
        self.passes.clear()
        if not self.log.exists():
            return
        for line in self.log.read_text().splitlines():
            r = json.loads(line)
            if "pass" in r:
                self.passes.append(r)
            elif "user" in r:
                self.first_seen.setdefault((r["user"], r["sha256"]), r["seen_at"])
            elif "ready" in r:
                self.ready_at = r["ready"]

    def wait_ready(self, timeout: float) -> bool:
        """Whether the process said it is ready (imports done, watching) within `timeout`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.read()
            if self.ready_at is not None:
                return True
            time.sleep(0.1)
        return False


@contextmanager
def poller(
    students: Path, notebook: str, work: Path, start: float, stop_at: float, period: float = 5.0
) -> Iterator[PollerRun]:
    """Run the poller in its own process from `start` to `stop_at` (epochs); it is
    stopped (and killed if need be) when the block ends."""
    with launch("_storm.live_poller", students, notebook, work, start, stop_at,
                ["--period", str(period)]) as run:  # fmt: skip
        yield run


@contextmanager
def launch(
    module: str, students: Path, notebook: str, work: Path, start: float, stop_at: float,
    extra: list[str],
) -> Iterator[PollerRun]:  # fmt: skip
    """Run a baseline (`python -m module`) in its own process; stopped when the block ends."""
    from _storm.procs import sigint_deferred, start_logged, stop_tree

    name = module.rsplit(".", 1)[-1]
    log = work / f"{name}.jsonl"
    argv = [sys.executable, "-m", module, "--students", str(students),
            "--notebook", notebook, "--out", str(work / f"{name}-pages"), "--log", str(log),
            "--start", str(start), "--stop-at", str(stop_at), *extra]  # fmt: skip
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = start_logged(argv, cwd=BENCHMARKS, log=work / f"{name}.out", env=dict(os.environ))
        yield PollerRun(proc.pid, log)
    finally:
        with sigint_deferred():
            stop_tree(proc, [(signal.SIGTERM, 5)])


if __name__ == "__main__":
    sys.exit(main())
