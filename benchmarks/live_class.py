"""Live class view: 100 simulated students save and run cells against a running service.

One real ``coursehub up`` (hub, proxy, coursehub service, SQLite), one course with
N students and an instructor enrolled, then two phases in the same run:

1. The class (``--seconds``, default 30): every student runs a cell about every
   second (one run in ten fails) and saves about every 5 s, on random, staggered
   schedules. A save writes the student's notebook file to a per-student directory
   (a cell changed, so its sha256 changes) and sends ``notebook_saved`` with the sha256
   and the tail (``tail_of``). Events go out as the course server's extension sends
   them: gathered for 50 ms, then one POST at a time per student (so a save and the
   cell run of the same moment share a POST). 100 real JupyterLab servers do not fit
   on a 2-core machine, so the simulated students post those same requests themselves,
   directly to the service as the extension does, with real hub tokens.
   An instructor client holds the notebook's event stream (``/live/stream``, through
   the proxy) and notes when each (student, sha256) arrives: latency = arrival - the
   moment just before the save's POST was sent (also printed: from the file write,
   which adds the 50 ms gather window and any wait for the student's previous POST).
   Baseline, in the same phase: a PipalHub-style poller in its own process that every
   5 s reads, parses (nbformat) and re-renders every student's notebook into an HTML
   tail page; latency = the moment a (student, sha256) first appears in a page - the
   moment the file was saved.
   CPU (user + system, psutil) over the class: the service process (``-m
   coursehub.service``) and the hub, against the poller process.
2. Ingest (``--ingest-seconds``, default 15): every student posts ready-made batches
   (``--per-post`` events, default 20: four runs to one save) back to back, at most
   ``--concurrency`` POSTs in flight; sustained events/s accepted (201), refusals,
   service CPU per 1000 events. The poller has no ingest API: nothing to compare.

The per-student event rate limit is off for the whole run (``events: {rate: 0}`` in
coursehub.yaml): phase 2 is about the service's capacity, not the limit (phase 1 sends
about 1.2 events/s per student, far below the default limit of 20).

Targets on a 2-core machine: at least 2,000 events/s ingested; p95 save-to-dashboard
at most 1 s. Bounded by ``--deadline`` (default: enough for set-up and both phases);
whatever happens (error, Ctrl-C, SIGTERM, deadline) the hub and the poller are
stopped and the site, accounts and temp dirs deleted.

Needs root (as the other benchmarks: ``coursehub up`` manages Unix accounts) and uses
only loopback and random free ports. Run from the repository root:

    .venv/bin/python benchmarks/live_class.py
    .venv/bin/python benchmarks/live_class.py --students 50 --seconds 20 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

import psutil
from rich.console import Console

from _storm.live_load import (
    Dashboard,
    Save,
    StudentCopy,
    class_in_session,
    ingest,
    ingest_bodies,
    make_copies,
)
from _storm.live_poller import poller
from _storm.live_report import Latency, LiveSummary, print_report, write_json
from _storm.live_site import LiveSite, live_site
from _storm.procs import HubCpu, TargetError
from _storm.report import percentile

TITLE = "Live class view: save → instructor's dashboard, and events ingested"
PERIOD = 5.0  # the poller's period, PipalHub-style
SNAPSHOT_TIMEOUT = 30
# the class's first seconds: every student's first POST has its token checked with the hub
WARM_UP = 5.0
SETUP_ALLOWANCE = 300  # site start-up, tokens, clean-up: the deadline's fixed part


class DeadlinePassed(KeyboardInterrupt):
    """The whole run took longer than --deadline (raised by SIGALRM)."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same path as Ctrl-C, so every cleanup block runs.
    raise KeyboardInterrupt


def _deadline(signum: int, frame: FrameType | None) -> None:
    raise DeadlinePassed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=100, help="simulated students (default 100)")
    p.add_argument("--seconds", type=float, default=30, help="length of the class (default 30)")
    p.add_argument(
        "--ingest-seconds", type=float, default=15, help="length of the ingest phase (default 15)"
    )
    p.add_argument(
        "--concurrency", type=int, default=16, help="POSTs in flight during ingest (default 16)"
    )
    p.add_argument("--per-post", type=int, default=20, help="events per ingest POST (default 20)")
    p.add_argument(
        "--deadline",
        type=float,
        help="seconds for the whole run (default: set-up allowance + 2 × the phases)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the students' schedules")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument("--keep-logs", type=Path, help="copy the site's logs here before cleaning up")
    a = p.parse_args(argv)
    if not 1 <= a.students <= 999:
        p.error("--students must be between 1 and 999")
    if not (5 <= a.seconds <= 3600 and 1 <= a.ingest_seconds <= 3600):
        p.error("--seconds must be 5-3600 and --ingest-seconds 1-3600")
    if not (1 <= a.concurrency <= 200 and 1 <= a.per_post <= 1000):
        p.error("--concurrency must be 1-200 and --per-post 1-1000")
    if a.deadline is None:
        a.deadline = SETUP_ALLOWANCE + 2 * (a.seconds + PERIOD + a.ingest_seconds)
    return a


class CpuMeter:
    """User + system CPU seconds of named processes, read together."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: HubCpu(pid) for name, pid in pids.items()}

    def read(self) -> dict[str, float | None]:
        return {name: cpu() for name, cpu in self.procs.items()}

    @staticmethod
    def spent(
        before: dict[str, float | None], after: dict[str, float | None]
    ) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name, b in before.items():
            x = after.get(name)
            out[name] = None if b is None or x is None else x - b
        return out


async def _wait_exit(pid: int, timeout: float) -> None:
    with contextlib.suppress(psutil.Error):
        await asyncio.to_thread(psutil.Process(pid).wait, timeout)


async def phases(
    site: LiveSite, a: argparse.Namespace, work: Path, console: Console
) -> LiveSummary:
    s = LiveSummary(a.students, a.seconds, a.ingest_seconds, a.concurrency, a.per_post)
    s.notes.append("per-student event rate limit off for the whole run (events: {rate: 0})")
    students = work / "students"
    copies = make_copies(site.students, students, site.notebook, a.seed)

    dashboard = Dashboard(site.stream_url, site.instructor_token)
    watching = asyncio.create_task(dashboard.run())
    try:
        try:
            await asyncio.wait_for(dashboard.snapshot.wait(), SNAPSHOT_TIMEOUT)
        except TimeoutError:
            raise TargetError(f"no snapshot on the event stream: {dashboard.error}") from None
        if dashboard.snapshot_students != a.students:
            raise TargetError(f"the snapshot lists {dashboard.snapshot_students} students")
        await _phase_class(site, a, work, copies, dashboard, s, console)
        await _phase_ingest(site, a, copies, dashboard, s, console)
        await asyncio.sleep(1)  # the last updates reach the dashboard
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    s.dashboard_reloads = dashboard.reloads
    s.dashboard_reconnects = dashboard.reconnects
    s.dashboard_error = dashboard.error
    return s


async def _phase_class(
    site: LiveSite,
    a: argparse.Namespace,
    work: Path,
    copies: list[StudentCopy],
    dashboard: Dashboard,
    s: LiveSummary,
    console: Console,
) -> None:
    start = time.time() + 3  # the poller imports nbformat meanwhile
    end = start + a.seconds
    stop_at = end + PERIOD + 1  # one pass after the class, for its last saves
    console.print(
        f"class: {a.students} students for {a.seconds:.0f} s, poller every {PERIOD:.0f} s"
    )
    with poller(work / "students", site.notebook, work, start, stop_at, PERIOD) as pol:
        meter = CpuMeter({**site.pids, "poller": pol.pid, "driver": os.getpid()})
        await asyncio.sleep(max(0.0, start - time.time()))
        before = meter.read()
        updates_before = dashboard.updates
        run = await class_in_session(
            copies, site.tokens, site.events_url, site.course, site.notebook, start, a.seconds
        )
        s.cpu_class = CpuMeter.spent(before, meter.read())
        console.print("class over; waiting for the poller's last pass…")
        await _wait_exit(pol.pid, stop_at - time.time() + 60)
        s.dashboard_updates["class"] = dashboard.updates - updates_before
    pol.read()

    s.save_timeline = [
        [
            round(v.sent_at - start, 3),
            _round(dashboard.arrivals.get((v.user, v.sha256)), v.sent_at),
            _round(pol.first_seen.get((v.user, v.sha256)), v.saved_at),
        ]
        for v in run.saves
    ]
    # A save whose POST failed never reaches the dashboard: it counts as not shown.
    s.dashboard = _latency(run.saves, dashboard.arrivals, "sent_at")
    s.poller = _latency(run.saves, pol.first_seen, "saved_at")
    warm = [v for v in run.saves if v.sent_at - start >= WARM_UP]
    s.dashboard_warm = _latency(warm, dashboard.arrivals, "sent_at")
    s.dashboard_from_file = _latency(run.saves, dashboard.arrivals, "saved_at")
    s.poller_warm = _latency(warm, pol.first_seen, "saved_at")
    s.class_posts, s.class_events = run.posts, run.events
    s.class_statuses = dict(run.statuses)
    s.class_post_p50_s = percentile(run.post_s, 0.5)
    s.class_post_p95_s = percentile(run.post_s, 0.95)
    s.student_tail_cpu_s = run.tail_cpu_s
    s.driver_lag_p99_s = percentile(run.loop_lag_s, 0.99)
    durations = [p["ended"] - p["started"] for p in pol.passes]
    s.poller_passes = len(pol.passes)
    s.poller_pass_p50_s = percentile(durations, 0.5)
    s.poller_pass_max_s = max(durations, default=None)


def _latency(saves: list[Save], seen: dict[tuple[str, str], float], clock: str) -> Latency:
    """How long after its `clock` (sent_at: the POST; saved_at: the file) each save's
    (user, sha256) was seen."""
    values = [seen[k] - getattr(v, clock) for v in saves if (k := (v.user, v.sha256)) in seen]
    return Latency.of(values, len(saves))


def _round(at: float | None, since: float) -> float | None:
    return None if at is None else round(at - since, 4)


async def _phase_ingest(
    site: LiveSite,
    a: argparse.Namespace,
    copies: list[StudentCopy],
    dashboard: Dashboard,
    s: LiveSummary,
    console: Console,
) -> None:
    bodies = ingest_bodies(copies, site.course, site.notebook, a.per_post)
    console.print(
        f"ingest: {a.students} students, {a.per_post} events per POST, "
        f"≤ {a.concurrency} in flight, {a.ingest_seconds:.0f} s"
    )
    meter = CpuMeter({**site.pids, "driver": os.getpid()})
    updates_before = dashboard.updates
    before = meter.read()
    run = await ingest(
        bodies, site.tokens, site.events_url, a.ingest_seconds, a.concurrency, a.per_post
    )
    s.cpu_ingest = CpuMeter.spent(before, meter.read())
    await asyncio.sleep(1)
    s.dashboard_updates["ingest"] = dashboard.updates - updates_before
    s.ingest_posts, s.ingest_events = run.posts, run.accepted_events
    s.ingest_statuses = dict(run.statuses)
    s.ingest_wall_s = run.wall_s
    s.events_per_s = run.accepted_events / run.wall_s if run.wall_s else None
    per_second = [float(n) for n in run.per_second()]
    s.events_per_s_min = min(per_second, default=None)
    s.events_per_s_median = percentile(per_second, 0.5)
    s.ingest_post_p50_s = percentile(run.post_s, 0.5)
    s.ingest_post_p95_s = percentile(run.post_s, 0.95)
    service = s.cpu_ingest.get("service")
    if service is not None and run.accepted_events:
        s.service_cpu_per_1000 = service / (run.accepted_events / 1000)


def run(a: argparse.Namespace, console: Console) -> LiveSummary:
    console.print(f"starting coursehub for {a.students} students…")
    work = Path(tempfile.mkdtemp(prefix="live-class-work-"))
    try:
        with live_site(a.students, a.keep_logs) as site:
            for note in site.notes:
                console.print(f"note: {note}", highlight=False)
            pids = ", ".join(f"{k} {v}" for k, v in site.pids.items())
            console.print(f"site ready at {site.public_url}; pids: {pids}", soft_wrap=True)
            load = os.getloadavg()[0]
            summary = asyncio.run(phases(site, a, work, console))
            summary.loadavg_1m = round(load, 2)
            summary.notes.extend(site.notes)
            console.print("done; stopping the site and cleaning up…")
    except TargetError as e:
        summary = LiveSummary(a.students, a.seconds, a.ingest_seconds, a.concurrency, a.per_post)
        summary.error = str(e)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    # wide enough for the table when the output goes to a file (as for the docs)
    console = Console() if sys.stdout.isatty() else Console(width=110)
    if os.geteuid() != 0:
        console.print("live_class needs root: coursehub up manages real Unix accounts.")
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(max(1, int(a.deadline)))
    try:
        summary = run(a, console)
    except DeadlinePassed:
        console.print(f"deadline of {a.deadline:.0f} s passed; site stopped and cleaned up")
        return 124
    except KeyboardInterrupt:
        console.print("interrupted; site stopped and cleaned up")
        return 130
    finally:
        signal.alarm(0)
    print_report(summary, console, TITLE)
    if a.json:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
        write_json(a.json, summary, settings)
    return 1 if summary.error else 0


if __name__ == "__main__":
    sys.exit(main())
