"""Notebook link storm: N students open a course notebook link at the same moment.

The first open of a link from a course page: the student is signed out and has
no server yet, so the time includes sign-in, server start and the copy of the
notebook into the student's files. Measured for plain JupyterHub with an
nbgitpuller link (``baseline``) and for coursehub's stable notebook link, one
after the other in the same run, both serving the same git repository:

- ok: students who reached JupyterLab on the notebook, whose server then listed
  the notebook file (contents API), without ever seeing an error page (HTTP
  5xx/429/other 4xx, a hub error page, a progress event with ``"failed": true``
  or an nbgitpuller error);
- p50 / p95 / max time-to-notebook: seconds from the click on the link until
  the contents API answers for the notebook, successful students only;
- hub CPU/spawn: user+system CPU seconds of the hub process over the storm,
  divided by N;
- the ratio coursehub / baseline of each figure, and a tally of failure reasons.

Each student is an httpx client with its own cookie jar that walks the real
pages as a browser does (see ``_storm/link_driver.py``); all are released
together. Every target is bounded by ``--deadline``; students still waiting then
count as failures. Whatever happens (error, Ctrl-C, SIGTERM) the hub and the git
server are stopped, leftover processes are killed, and the Unix accounts and
temp dirs made are deleted.

Needs root (it creates real Unix accounts) and uses only loopback and random
free ports. Run from the repository root:

    .venv/bin/python benchmarks/link_storm.py --students 20
    .venv/bin/python benchmarks/link_storm.py --target coursehub --students 5 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from rich.console import Console

from _storm import link_targets
from _storm.browser import StormResult, release
from _storm.cli import parse_args, run_benchmark
from _storm.procs import TargetError
from _storm.report import Summary, failed_target, summarize

TITLE = "Notebook link storm: time from the click on the link to the notebook in JupyterLab"
Target = Callable[[int, Path | None], AbstractContextManager[link_targets.LinkTarget]]
TARGETS: dict[str, Target] = {
    "baseline": link_targets.baseline,
    "coursehub": link_targets.coursehub,
}


async def _storm(target: link_targets.LinkTarget, deadline: float) -> StormResult:
    students = [target.make_student(c) for c in target.hub.students]
    return await release(students, deadline=deadline, hub_cpu=target.hub.hub_cpu)


def run_target(name: str, args: argparse.Namespace, console: Console) -> Summary:
    console.print(f"[bold]{name}[/bold]: starting the hub for {args.students} students…")
    try:
        with TARGETS[name](args.students, args.keep_logs) as target:
            hub = target.hub
            for note in hub.notes:
                console.print(f"{name}: note: {note}", highlight=False)
            console.print(f"{name}: hub ready at {hub.base_url}, course at {target.course.url}")
            console.print(f"{name}: storm!")
            storm = asyncio.run(_storm(target, args.deadline))
            console.print(
                f"{name}: storm over after {storm.wall_s:.1f} s "
                f"(load average before it: {storm.loadavg_1m:.2f}); cleaning up…"
            )
            notes = hub.notes
    except TargetError as e:
        return failed_target(name, args.students, str(e))
    return summarize(name, args.students, storm, notes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__.split("\n\n")[0])
    return run_benchmark("link_storm", args, run_target, TITLE)


if __name__ == "__main__":
    sys.exit(main())
