"""Live class view: simulated students save and run cells; how soon each save shows on
the instructor's view, with coursehub's push path and with the baselines an admin
without coursehub would build; then events/s ingested at the batch sizes real course
servers send.

One real ``coursehub up`` (hub, proxy, coursehub service, SQLite), one course with N
students and an instructor enrolled. Two matrices run on it, each target at least 3
times in alternating order, each segment after a bounded wait for an idle machine
(``_fair``):

1. The class (``--seconds`` per segment, default 30). Every student runs a cell about
   every second (one run in ten fails) and saves about every 5 s, on random, staggered
   schedules, the same in every segment (``--seed``). A save writes the student's copy
   of the notebook (a cell changed, so its sha256 changes) to a per-student directory,
   atomically as Jupyter does. Targets:
   - **coursehub**: what the course server's extension sends (student/events/sender.py:
     a 50 ms gather window, one POST at a time per student, the save's sha256 and tail)
     goes to the service with the student's real hub token; an instructor client holds
     the notebook's event stream (``/live/stream``, through the proxy);
   - **poll-5s** / **poll-1s**: a PipalHub-style rebuild in its own process that every
     5 s (PipalHub's period) or every 1 s reads, parses (nbformat) and re-renders every
     student's notebook into an HTML tail page;
   - **inotify**: the same rebuild driven by inotify (watchdog), one student's page
     each time their notebook is saved.
   In the baselines the students only write their files (a plain server sends nothing).
   Latency, the same clock for all: from the file write until the (student, sha256)
   reached the instructor's stream or a rebuilt page. A save never shown counts as
   infinitely slow. CPU over the segment (class + ``TAIL_S``): the target's processes
   (coursehub: service + hub + proxy + the extension's sha256 and tail work, measured
   in the simulated students; a baseline: its process) and the whole machine less the
   benchmark's own process.
2. Ingest (``--ingest-seconds`` per segment, default 15), one target per batch size
   (``--batch-sizes``, default ``1,2``: a cell run alone, or a save with the run of the
   same moment, which is what the extension sends in a class; the class segments print
   the sizes they sent). Every student posts ready-made batches back to back, at most
   ``--concurrency`` POSTs in flight; events accepted (201) per second, refusals,
   service CPU per 1000 events. The baselines have no ingest API.

The per-student event rate limit is off for the whole run (``events: {rate: 0}`` in
coursehub.yaml): ingest is about the service's capacity, not the limit (the class sends
about 1.2 events/s per student, far below the default limit of 20).

Raw results per segment under benchmarks/results/live_class/. Needs root (``coursehub
up`` manages Unix accounts); loopback and random free ports only; bounded by
``--deadline``; whatever happens the site and baselines are stopped and the site,
accounts and temp dirs deleted.

    .venv/bin/python benchmarks/live_class.py
    .venv/bin/python benchmarks/live_class.py --students 20 --seconds 10
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
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from _fair import matrix
from _fair.idle import IDLE_LIMIT_S
from _fair.matrix import MIN_REPETITIONS, Storm
from _fair.stats import percentile
from _fair.window import before_storm
from _storm.live_load import (
    Dashboard,
    class_in_session,
    ingest,
    ingest_bodies,
    make_copies,
)
from _storm.live_poller import PollerRun, poller
from _storm.live_report import CpuMeter, print_report
from _storm.live_site import LiveSite, live_site
from _storm.live_watcher import watcher
from _storm.procs import TargetError

TITLE = "Live class view: save → instructor's view"
CLASS_TARGETS = ("coursehub", "poll-5s", "poll-1s", "inotify")
PERIODS = {"poll-5s": 5.0, "poll-1s": 1.0}
TAIL_S = 6.0  # after the class, for the last saves (a 5 s poller's last pass); same for all
LEAD_S = 5.0  # a baseline's imports before the class starts
SNAPSHOT_TIMEOUT = 30


class DeadlinePassed(KeyboardInterrupt):
    """The whole run took longer than --deadline (raised by SIGALRM)."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM takes the same path as Ctrl-C: every cleanup runs


def _deadline(signum: int, frame: FrameType | None) -> None:
    raise DeadlinePassed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=100, help="simulated students (default 100)")
    p.add_argument("--seconds", type=float, default=30, help="class segment length (default 30)")
    p.add_argument("--ingest-seconds", type=float, default=15, help="ingest segment length")
    p.add_argument("--targets", default=",".join(CLASS_TARGETS), help="class targets (default all)")
    p.add_argument(
        "--batch-sizes", default="1,2", help="events per ingest POST, comma-separated (1,2)"
    )
    p.add_argument("--concurrency", type=int, default=16, help="ingest POSTs in flight (16)")
    p.add_argument("--repetitions", type=int, default=MIN_REPETITIONS, help="of each target")
    p.add_argument(
        "--idle-limit", type=float, default=IDLE_LIMIT_S, help="longest idle wait per segment"
    )
    p.add_argument("--deadline", type=float, help="seconds for the whole run (default: scaled)")
    p.add_argument("--seed", type=int, default=1, help="seed of the students' schedules")
    p.add_argument("--keep-logs", type=Path, help="copy the site's logs here before cleaning up")
    a = p.parse_args(argv)
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    if unknown := [t for t in a.targets if t not in CLASS_TARGETS]:
        p.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(CLASS_TARGETS)}")
    try:
        a.batch_sizes = [int(x) for x in a.batch_sizes.split(",") if x.strip()]
    except ValueError:
        p.error("--batch-sizes must be whole numbers separated by commas, e.g. 1,2")
    if not all(1 <= n <= 500 for n in a.batch_sizes):
        p.error("each batch size must be 1-500 (the extension sends at most 500 per POST)")
    if not 1 <= a.students <= 999:
        p.error("--students must be between 1 and 999")
    if not (5 <= a.seconds <= 3600 and 1 <= a.ingest_seconds <= 3600):
        p.error("--seconds must be 5-3600 and --ingest-seconds 1-3600")
    if not (1 <= a.concurrency <= 200 and 1 <= a.repetitions <= 20):
        p.error("--concurrency must be 1-200 and --repetitions 1-20")
    if a.deadline is None:
        segments = len(a.targets) * (a.seconds + TAIL_S + LEAD_S + 70) + len(a.batch_sizes) * (
            a.ingest_seconds + 5
        )
        a.deadline = 300 + a.repetitions * (segments + (len(a.targets) + len(a.batch_sizes))
                                            * a.idle_limit)  # fmt: skip
    return a


# --------------------------------------------------------------------------- settings


def class_settings(target: str, a: argparse.Namespace) -> dict[str, Any]:
    common = {
        "students": a.students,
        "seconds": a.seconds,
        "tail_s": TAIL_S,
        "seed": a.seed,
        "students' work": "a cell run every 0.8-1.2 s (1 in 10 fails), a save every 4-6 s",
        "latency clock": "from the file write to the instructor's stream or a rebuilt page",
    }
    if target == "coursehub":
        return {
            **common,
            "site": "coursehub up (coursehub init's coursehub.yaml), events: {rate: 0}",
            "events sent as": "the extension: 50 ms gather window, one POST at a time per "
            "student, at most 500 events per POST, a new connection per POST (tornado)",
            "instructor's view": "/live/stream event stream through the proxy",
        }
    rebuild = "nbformat read + coursehub's tail_of + an HTML page per student"
    if target == "inotify":
        return {**common, "watcher": f"watchdog {version('watchdog')} (inotify)",
                "rebuild": f"{rebuild}, on each save"}  # fmt: skip
    return {**common, "period_s": PERIODS[target], "rebuild": f"{rebuild}, every pass"}


def ingest_settings(size: int, a: argparse.Namespace) -> dict[str, Any]:
    return {
        "students": a.students,
        "seconds": a.ingest_seconds,
        "events per POST": size,
        "POSTs in flight": a.concurrency,
        "mix": "one event in five a notebook_saved with its tail, the rest cell_executed",
        "events.rate": 0,
    }


# --------------------------------------------------------------------------- segments


@contextmanager
def baseline(target: str, students: Path, notebook: str, work: Path, start: float,
             stop_at: float) -> Iterator[PollerRun | None]:  # fmt: skip
    if target == "coursehub":
        yield None
    elif target == "inotify":
        with watcher(students, notebook, work, start, stop_at) as run:
            yield run
    else:
        with poller(students, notebook, work, start, stop_at, PERIODS[target]) as run:
            yield run


async def class_segment(
    site: LiveSite, a: argparse.Namespace, work: Path, storm: Storm, dashboard: Dashboard,
    console: Console,
) -> dict[str, Any]:  # fmt: skip
    target = storm.target
    tag = f"{target}-{storm.rep}"
    root = work / tag
    root.mkdir()
    copies = make_copies(site.students, root / "students", site.notebook, a.seed, tag)
    window = await asyncio.to_thread(
        before_storm, a.students, idle_limit=a.idle_limit, say=console.print
    )
    start = time.time() + LEAD_S
    end = start + a.seconds + TAIL_S
    # a baseline runs on past the segment, so that its CPU can be read at the end
    with baseline(target, root / "students", site.notebook, root, start, end + 60) as bl:
        if bl is not None and not await asyncio.to_thread(bl.wait_ready, LEAD_S + 60):
            raise TargetError(f"{target} did not start within {LEAD_S + 60:.0f} s")
        pids = {**site.pids, **({"baseline": bl.pid} if bl else {})}
        meter = CpuMeter(pids)
        await asyncio.sleep(max(0.0, start - time.time()))
        before, updates = meter.read(), dashboard.updates
        window.cpu.start()
        run = await class_in_session(
            copies, site.tokens, site.events_url, site.course, site.notebook, start,
            a.seconds, send_events=bl is None,
        )  # fmt: skip
        await asyncio.sleep(max(0.0, end - time.time()))
        window.cpu.stop()
        spent = CpuMeter.spent(before, meter.read())
    seen = dashboard.arrivals if bl is None else _read(bl)
    latency = [_since(seen.get((v.user, v.sha256)), v.saved_at) for v in run.saves]
    if bl is None:
        target_cpu = {k: spent.get(k) for k in ("service", "hub", "proxy")}
        target_cpu["extension (sha256 + tail)"] = run.tail_cpu_s
    else:
        target_cpu = {target: spent.get("baseline")}
    figures: dict[str, Any] = {
        "students": a.students,
        "saves": len(run.saves),
        "shown": sum(x is not None for x in latency),
        "latency_s": latency,
        "target_cpu_s": target_cpu,
        "target_cpu_total_s": sum(v for v in target_cpu.values() if v is not None),
        "processes_cpu_s": spent,
        "window": window.as_dict(),
        "driver_lag_p99_s": percentile(run.loop_lag_s, 0.99),
    }
    if bl is None:
        figures |= {
            "from_post_s": [_since(seen.get((v.user, v.sha256)), v.sent_at) for v in run.saves],
            "posts": run.posts,
            "events": run.events,
            "statuses": dict(run.statuses),
            "batch_sizes": {str(k): n for k, n in sorted(run.batch_sizes.items())},
            "post_p50_s": percentile(run.post_s, 0.5),
            "post_p95_s": percentile(run.post_s, 0.95),
            "dashboard_updates": dashboard.updates - updates,
        }
    else:
        passes = [p for p in bl.passes if isinstance(p.get("pass"), int)]
        durations = [p["ended"] - p["started"] for p in passes if p["started"] < end]
        figures |= {
            "passes": len(durations),
            "pass_p50_s": percentile(durations, 0.5),
            "pass_max_s": max(durations, default=None),
            "watcher": next((p for p in bl.passes if p.get("pass") == "inotify"), None),
        }
    console.print(f"{target}: {window.cpu.describe()}", highlight=False)
    return figures


def _read(run: PollerRun) -> dict[tuple[str, str], float]:
    run.read()
    return run.first_seen


def _since(at: float | None, since: float) -> float | None:
    return None if at is None else round(at - since, 4)


async def ingest_segment(
    site: LiveSite, a: argparse.Namespace, size: int, dashboard: Dashboard, console: Console
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="live-class-ingest-"))
    try:  # the bodies are made before the clock: the driver's CPU goes to requests
        copies = make_copies(site.students, tmp, site.notebook, a.seed)
        bodies = ingest_bodies(copies, site.course, site.notebook, size)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    window = await asyncio.to_thread(
        before_storm, a.students, idle_limit=a.idle_limit, say=console.print
    )
    meter = CpuMeter(site.pids)
    before, updates = meter.read(), dashboard.updates
    window.cpu.start()
    run = await ingest(bodies, site.tokens, site.events_url, a.ingest_seconds, a.concurrency, size)
    window.cpu.stop()
    spent = CpuMeter.spent(before, meter.read())
    await asyncio.sleep(1)
    service = spent.get("service")
    console.print(f"batch {size}: {window.cpu.describe()}", highlight=False)
    return {
        "students": a.students,
        "batch": size,
        "posts": run.posts,
        "accepted_events": run.accepted_events,
        "statuses": dict(run.statuses),
        "refused_or_failed": run.posts - run.statuses.get("201", 0),
        "wall_s": run.wall_s,
        "events_per_s": run.accepted_events / run.wall_s if run.wall_s else None,
        "posts_per_s": run.statuses.get("201", 0) / run.wall_s if run.wall_s else None,
        "events_per_whole_second": run.per_second(),
        "post_p50_s": percentile(run.post_s, 0.5),
        "post_p95_s": percentile(run.post_s, 0.95),
        "processes_cpu_s": spent,
        "service_cpu_per_1000_events": (
            service / (run.accepted_events / 1000) if service and run.accepted_events else None
        ),
        "dashboard_updates": dashboard.updates - updates,
        "window": window.as_dict(),
    }


# --------------------------------------------------------------------------- the run


def _matrices(
    site: LiveSite, a: argparse.Namespace, work: Path, console: Console
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    loop = asyncio.new_event_loop()
    dashboard = Dashboard(site.stream_url, site.instructor_token)
    watching = loop.create_task(dashboard.run())
    try:
        try:
            loop.run_until_complete(asyncio.wait_for(dashboard.snapshot.wait(), SNAPSHOT_TIMEOUT))
        except TimeoutError:
            raise TargetError(f"no snapshot on the event stream: {dashboard.error}") from None
        if dashboard.snapshot_students != a.students:
            raise TargetError(f"the snapshot lists {dashboard.snapshot_students} students")
        scenario = f"{a.students}-students"
        class_docs = matrix.run(
            "live_class", f"{scenario}-class", a.targets, a.repetitions,
            lambda t: class_settings(t, a),
            lambda s: loop.run_until_complete(class_segment(site, a, work, s, dashboard, console)),
            say=console.print,
        )  # fmt: skip
        sizes = [f"batch-{n}" for n in a.batch_sizes]
        ingest_docs = matrix.run(
            "live_class", f"{scenario}-ingest", sizes, a.repetitions,
            lambda t: ingest_settings(int(t.split("-")[1]), a),
            lambda s: loop.run_until_complete(
                ingest_segment(site, a, int(s.target.split("-")[1]), dashboard, console)
            ),
            say=console.print,
        )  # fmt: skip
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(watching)
        loop.close()
    return class_docs, ingest_docs


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=140)
    if os.geteuid() != 0:
        console.print("live_class needs root: coursehub up manages real Unix accounts.")
        return 2
    for target in a.targets:
        console.print(f"settings of {target}: {class_settings(target, a)}", highlight=False)
    for n in a.batch_sizes:
        console.print(f"settings of batch-{n}: {ingest_settings(n, a)}", highlight=False)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(max(1, int(a.deadline)))
    work = Path(tempfile.mkdtemp(prefix="live-class-work-"))
    try:
        console.print(f"starting coursehub for {a.students} students…")
        with live_site(a.students, a.keep_logs) as site:
            for note in site.notes:
                console.print(f"note: {note}", highlight=False)
            class_docs, ingest_docs = _matrices(site, a, work, console)
            console.print("done; stopping the site and cleaning up…")
    except TargetError as e:
        console.print(f"[red]the benchmark did not run:[/red] {e}", highlight=False)
        return 1
    except DeadlinePassed:
        console.print(f"deadline of {a.deadline:.0f} s passed; site stopped and cleaned up")
        return 124
    except KeyboardInterrupt:
        console.print("interrupted; site stopped and cleaned up")
        return 130
    finally:
        signal.alarm(0)
        shutil.rmtree(work, ignore_errors=True)
    print_report(class_docs, ingest_docs, a, console, TITLE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
