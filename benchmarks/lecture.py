"""The first minute of a lecture: N students click the course link, signed out, and run
the notebook's first cell.

The clock of each student runs from the first GET of the course link to the first cell's
result (an output that only the course environment can give). Each student is an httpx
client with its own cookie jar that walks the hub's pages as a browser does, then
replays JupyterLab 4's own start-up requests as recorded once from Chromium
(``benchmarks/recordings/``, made by ``benchmarks/_lecture/record.py``), with a
websocket client for the kernel. Static files are skipped on every target.

Targets (all by default): coursehub-cold, coursehub-warmed (``coursehub course warm``
before the class), baseline-tuned (plain JupyterHub in its own clean venv, timeouts 300
s, PAM, nbgitpuller), baseline-fixes (the same with coursehub's environment fixes),
baseline-prestarted (the tuned baseline with every server started before class through
its REST API). Variants: ``at-once`` (default), ``spread`` (over --spread seconds),
``second`` (a second lecture: accounts and cookies exist, servers stopped in between).

Fairness (benchmarks/_fair): targets alternate order over repetitions, the machine is
idle (1-min load < 0.3, bounded wait) before each storm, failures count as infinitely
slow, whole-machine CPU per student from the first click to the last result (warm-up
CPU apart), one raw JSON per storm in ``benchmarks/results/lecture/`` written as it ends
(re-running the same command resumes). Needs root. The measurement:

    flock /tmp/coursehub-heavy.lock .venv/bin/python benchmarks/lecture.py \
        --students 50 --repetitions 3

A smoke run: ``.venv/bin/python benchmarks/lecture.py --students 10 --repetitions 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from _fair import matrix
from _fair.window import before_storm
from _lecture import baseline_venv, course, recording, report, sites, warm
from _lecture.storm import close, figures, release
from _lecture.student import LectureStudent
from _storm.course_repo import served_course
from _storm.procs import TargetError

BENCHMARK = "lecture"
WARMED = {"coursehub-warmed", "baseline-prestarted"}
VARIANTS = ("at-once", "spread", "second")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=50, help="students per storm (default 50)")
    p.add_argument("--repetitions", type=int, default=3, help="of every target (default 3)")
    p.add_argument(
        "--targets",
        default=",".join(sites.TARGETS),
        help=f"comma-separated, in rep-1 order (default: {','.join(sites.TARGETS)})",
    )
    p.add_argument("--variant", choices=VARIANTS, default="at-once")
    p.add_argument(
        "--spread",
        type=float,
        default=60.0,
        help="seconds over which students arrive in the spread variant (default 60)",
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=300.0,
        help="seconds per student from their click (default 300)",
    )
    p.add_argument("--idle-load", type=float, default=0.3)
    p.add_argument(
        "--idle-wait",
        type=float,
        default=300.0,
        help="longest wait for an idle machine before a storm (default 300 s)",
    )
    p.add_argument("--recording", type=Path, default=recording.RECORDING)
    p.add_argument("--keep-logs", type=Path, help="copy hub logs here before cleaning up")
    args = p.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in args.targets if t not in sites.TARGETS]
    if unknown:
        p.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(sites.TARGETS)}")
    if not 1 <= args.students <= 500:
        p.error("--students must be between 1 and 500")
    return args  # fmt: skip


def settings(args: argparse.Namespace, target: str, rec: dict[str, Any]) -> dict[str, Any]:
    """Everything a result depends on besides the code: printed and saved, and the key
    that lets a resumed matrix skip storms already measured."""
    per_target: dict[str, Any]
    if target.startswith("coursehub"):
        per_target = sites.coursehub_settings(target)
    else:
        per_target = sites.baseline_settings(
            target,
            baseline_venv.ensure(
                "fixes" if target == "baseline-fixes" else "tuned", course.REQUIREMENTS
            ),
        )
    plan = recording.plan_for(rec, "coursehub" if target.startswith("coursehub") else "nbgitpuller")
    return {
        "target": target,
        "students": args.students,
        "variant": args.variant,
        "spread_s": args.spread if args.variant == "spread" else 0,
        "deadline_s": args.deadline,
        "idle": {"load_below": args.idle_load, "longest_wait_s": args.idle_wait},
        "client": {"recording": plan.digest, "replayed_requests": len(plan.steps),
                   "static_skipped": plan.skipped_static,
                   "other_targets_requests_skipped": plan.skipped_other_target},
        "course": {"first_cell": course.FIRST_CELL, "requirements": list(course.REQUIREMENTS)},
        "security": {"per_user_subdomains": True,
                     "https": "not measured (TLS is a proxy in front, the same for every "
                              "target)"},
        **per_target,
    }  # fmt: skip


async def _lectures(site: sites.Site, args: argparse.Namespace, plan: recording.Plan,
                    target: str, console: Console) -> dict[str, Any]:  # fmt: skip
    students = [LectureStudent(site, c, plan) for c in site.students]
    out: dict[str, Any] = {}
    try:
        if args.variant == "second":
            console.print(f"{target}: first lecture (not measured)…")
            first = before_storm(len(students), idle_load=99, idle_limit=0, say=console.print)
            first.cpu.site_uids = site.uids()
            wall = await release(students, deadline=args.deadline, spread_s=0, window=first)
            out["first_lecture"] = {
                k: v
                for k, v in figures([s.result for s in students], wall, args.deadline).items()
                if k != "per_student"
            }
            await asyncio.to_thread(warm.stop_all, site)
            for s in students:
                s.reset()
        if target in WARMED:
            done = await asyncio.to_thread(warm.warm, site, console.print)
            out["warm_up"] = done.as_dict()
        window = await asyncio.to_thread(
            before_storm,
            len(students),
            idle_load=args.idle_load,
            idle_limit=args.idle_wait,
            say=console.print,
        )
        window.cpu.site_uids = site.uids()
        console.print(f"{target}: storm! ({len(students)} students, {args.variant})")
        spread = args.spread if args.variant == "spread" else 0.0
        wall = await release(students, deadline=args.deadline, spread_s=spread, window=window)
        out.update(figures([s.result for s in students], wall, args.deadline))
        out.update(window.as_dict())
        console.print(f"{target}: {out['ok']}/{len(students)} got their result; "
                      f"{window.cpu.describe()}", highlight=False)  # fmt: skip
    finally:
        await close(students)
    return out


def run_one(args: argparse.Namespace, rec: dict[str, Any], console: Console,
            storm: matrix.Storm) -> dict[str, Any]:  # fmt: skip
    target = storm.target
    console.print(f"[bold]{target}[/bold] settings: "
                  + json.dumps(storm.settings, indent=1), highlight=False)  # fmt: skip
    kind = "coursehub" if target.startswith("coursehub") else "nbgitpuller"
    plan = recording.plan_for(rec, kind)
    try:
        with (
            served_course(f"lecture-{target}", course.write, course.NAME, course.NOTEBOOK) as c,
            sites.site(target, args.students, c, args.keep_logs, console.print) as site,
        ):
            for note in site.notes:
                console.print(f"{target}: note: {note}", highlight=False)
            return asyncio.run(_lectures(site, args, plan, target, console))
    except TargetError as e:
        console.print(f"[red]{target} did not run:[/red] {e}")
        return {"error": str(e), "students": args.students, "ok": 0}


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # every cleanup block runs, as on Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=max(120, Console().width))
    if os.geteuid() != 0:
        console.print("lecture.py needs root: it creates and deletes real Unix accounts.")
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    rec = recording.load(args.recording)
    for line in recording.summary(rec):
        console.print(f"recording: {line}", highlight=False)
    scenario = f"{args.variant}-{args.students}"
    try:
        docs = matrix.run(
            BENCHMARK, scenario, args.targets, args.repetitions,
            lambda t: settings(args, t, rec), lambda s: run_one(args, rec, console, s),
            say=console.print,
        )  # fmt: skip
    except KeyboardInterrupt:
        console.print("interrupted; hubs stopped and accounts deleted (finished storms are saved)")
        return 130
    report.print_matrix(docs, console)
    return 1 if any(d.get("error") for d in docs) else 0


if __name__ == "__main__":
    sys.exit(main())
