"""Login storm: N students sign in at the same moment and start their servers.

What it measures, for plain JupyterHub (``baseline``) and for coursehub, one after
the other in the same run:

- ok: students whose login was accepted and whose JupyterLab answered, without
  ever seeing an error page (HTTP 5xx/429/other 4xx, a hub error page, or a
  progress event with ``"failed": true``);
- p50 / p95 / max time-to-ready: seconds from submitting the login form until the
  student's server answers through the proxy (JupyterLab page after the OAuth
  redirects, then its ``/api/status``), successful students only;
- hub CPU/spawn: user+system CPU seconds of the hub process over the storm,
  divided by N;
- the ratio coursehub / baseline of each figure, and a tally of failure reasons.

Each student is an httpx client with its own cookie jar that walks the real
pages as a browser does (see ``_storm/driver.py``); all are released together.
Every target is bounded by ``--deadline``; students still waiting then count as
failures. Whatever happens (error, Ctrl-C, SIGTERM) the hub is stopped, leftover
processes are killed, and the Unix accounts and temp dirs made are deleted.

Needs root (it creates real Unix accounts) and uses only loopback and random
free ports. Run from the repository root:

    .venv/bin/python benchmarks/login_storm.py --students 20
    .venv/bin/python benchmarks/login_storm.py --target baseline --students 10 --json out.json
    .venv/bin/python benchmarks/login_storm.py --target coursehub --start cold --students 50
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from rich.console import Console
from ruamel.yaml import YAML

from _storm import census, targets
from _storm.accounts import Credentials
from _storm.cli import parse_args, run_benchmark
from _storm.driver import run_storm
from _storm.procs import TargetError
from _storm.report import LOGIN_STORM_TITLE, Summary, failed_target, summarize

TARGETS: dict[str, Callable[[int, Path | None], AbstractContextManager[targets.RunningHub]]] = {
    "baseline": targets.baseline,
    "coursehub": targets.coursehub,
}


def _servers_start(mode: str, concurrent: int | None) -> Callable[[Path, list[Credentials]], None]:
    """servers.start (forked, the default, or cold) and, if given, servers.concurrent_starts
    in coursehub.yaml, comments kept; the demo course with every student in it."""

    def before_up(config: Path, students: list[Credentials]) -> None:
        yaml = YAML()
        doc = yaml.load(config.read_text()) or {}
        doc.setdefault("servers", {})["start"] = mode
        if concurrent is not None:
            doc["servers"]["concurrent_starts"] = concurrent
        with config.open("w") as f:
            yaml.dump(doc, f)
        targets.add_demo_course(config, students)

    return before_up


def run_target(name: str, args: argparse.Namespace, console: Console) -> Summary:
    console.print(f"[bold]{name}[/bold]: starting the hub for {args.students} students…")
    if name == "coursehub":
        console.print(
            f"coursehub: servers.start: {args.start}, concurrent_starts: "
            f"{args.concurrent_starts or 'auto'}"
        )
        before_up = _servers_start(args.start, args.concurrent_starts)
        target = targets.coursehub(args.students, args.keep_logs, before_up=before_up)
    else:
        target = TARGETS[name](args.students, args.keep_logs)
    try:
        with target as hub:
            for note in hub.notes:
                console.print(f"{name}: note: {note}", highlight=False)
            console.print(f"{name}: hub ready at {hub.base_url}; storm!")
            before = census.snapshot()
            storm = asyncio.run(
                run_storm(
                    hub.base_url,
                    hub.students,
                    deadline=args.deadline,
                    hub_cpu=hub.hub_cpu,
                    course=targets.DEMO_COURSE if name == "coursehub" else "",
                )
            )
            rows = census.breakdown(before, census.snapshot())
            console.print(
                f"{name}: " + census.describe(rows, storm.wall_s, before.cores, args.students),
                highlight=False,
            )
            console.print(
                f"{name}: storm over after {storm.wall_s:.1f} s "
                f"(load average before it: {storm.loadavg_1m:.2f}); cleaning up…"
            )
            notes = hub.notes
    except TargetError as e:
        return failed_target(name, args.students, str(e))
    return summarize(name, args.students, storm, notes)


def main(argv: list[str] | None = None) -> int:
    start = argparse.ArgumentParser(add_help=False)
    start.add_argument(
        "--start", choices=["forked", "cold"], default="forked",
        help="how coursehub starts servers (servers.start; default forked)",
    )  # fmt: skip
    start.add_argument(
        "--concurrent-starts", type=int, default=None,
        help="coursehub's servers.concurrent_starts (default: the site's auto)",
    )  # fmt: skip
    known, rest = start.parse_known_args(argv)
    args = parse_args(rest, __doc__.split("\n\n")[0])
    args.start, args.concurrent_starts = known.start, known.concurrent_starts
    return run_benchmark("login_storm", args, run_target, LOGIN_STORM_TITLE)


if __name__ == "__main__":
    sys.exit(main())
