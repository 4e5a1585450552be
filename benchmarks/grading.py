"""Grading: N submissions of a realistic assignment graded by coursehub and, in the same
run, by otter / nbgrader directly, one at a time.

The assignment (``_grading_assignments.py``) has three questions whose answers compute
for real: a numpy Monte Carlo estimate of pi, Conway's game of life and the longest
Collatz chain in pure Python (about 1 s on one core here with ``--work 1``). It is
written twice, as an otter assign master notebook and as an nbgrader source notebook,
with the same tests and points. Submission i answers as variant i % 5: three right,
one with q2 wrong, one with q3 wrong; the points each must get are computed before
grading by running its code and the tests in this process. Any submission scored
otherwise, by any grader, stops the benchmark with the list of them and no figures.

For each format, one after the other:

- **coursehub**: the assignments are made with ``grading.lifecycle.create`` (otter
  assign / nbgrader generate_assignment) in a GradingStore on a fresh SQLite database
  and a data dir under /srv (each sandbox gets a private /tmp). A grading process of
  its own (``_grading_coursehub.py``, as the service's workers) stores every answer
  with ``GradingStore.submit``, grades the trivial submissions one at a time, then
  enqueues all N and runs ``GradingWorkers`` with ``--parallel`` workers until all are
  done: each submission in the sandbox (throwaway account, no network, limits) with
  the service's default limits. Wall time: first enqueue to last finish.
- **otter**: ``otter.api.grade_submission`` (what ``otter run`` runs; no Docker here)
  on the autograder zip ``otter assign`` made for coursehub, each answer in turn, in one
  process that imports otter once. Wall time: first grading's start to last's end.
- **nbgrader**: ``nbgrader autograde`` (its CLI) on a course directory holding the same
  source (student version made by ``nbgrader generate_assignment``) and the same answer
  files under submitted/. Wall time: the command, start to end.

Figures: wall time and throughput (submissions/min); the median time of one submission
in the main run; the fixed cost of one trivial submission (a one-line answer, graded
alone; median of ``--trivial``), whose difference coursehub − baseline is the sandbox's
overhead per submission; CPU seconds (user + system) per submission of the grading
process tree; peak memory (RSS summed over the grading process tree, sampled every
50 ms with psutil) during the main run.

Bounded: every grading process has a time limit, the whole run ``--deadline``. On error,
Ctrl-C, SIGTERM or the deadline, the grading processes are stopped, this run's sandbox
accounts (their own prefix) are removed and its directory under /srv is deleted.

Needs root (the sandbox makes throwaway Unix accounts). Run from the repository root:

    .venv/bin/python benchmarks/grading.py --quick
    flock /tmp/coursehub-heavy.lock .venv/bin/python benchmarks/grading.py --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from _grading_assignments import Assignment, Sizes, answer, nbgrader_source, otter_master
from _grading_assignments import simulation as simulation_assignment
from _grading_assignments import trivial as trivial_assignment
from _grading_baselines import (
    autograde,
    nbgrader_course,
    nbgrader_scores,
    otter,
    place,
    seconds_per_submission,
)
from _grading_coursehub import our_accounts
from _grading_measure import MeasureError, run_measured
from _grading_report import Side, check_scores, median, print_report, write_json
from coursehub.db.session import Database, ensure_schema
from coursehub.grading import lifecycle
from coursehub.grading.paths import GradingPaths
from coursehub.grading.sandbox import kill_all_of
from coursehub.grading.store import GradingStore

HERE = Path(__file__).resolve().parent
TITLE = "Grading: coursehub (sandbox, parallel workers) against otter / nbgrader directly"
FORMATS = ("otter", "nbgrader")
PER_SUBMISSION_ALLOWANCE = 15.0  # seconds per submission and grader, for the time limits
SETUP_ALLOWANCE = 300.0


class DeadlinePassed(KeyboardInterrupt):
    """The whole run took longer than --deadline (raised by SIGALRM)."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM takes the same path as Ctrl-C


def _deadline(signum: int, frame: FrameType | None) -> None:
    raise DeadlinePassed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--format", choices=(*FORMATS, "both"), default="both")
    p.add_argument("--submissions", type=int, help="main submissions per format (default 100)")
    p.add_argument(
        "--parallel",
        type=int,
        default=os.cpu_count() or 1,
        help="coursehub's grading workers (default: the number of cores, as parallel: auto)",
    )
    p.add_argument(
        "--work",
        type=float,
        help="size of the answers' computation; 1 is about 1 s on one core here (default 1)",
    )
    p.add_argument("--trivial", type=int, help="trivial submissions per grader (default 5)")
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 6 submissions, tiny computation"
    )
    p.add_argument("--deadline", type=float, help="seconds for the whole run (default: scaled)")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    p.add_argument("--keep-logs", type=Path, help="copy the graders' logs here before cleanup")
    a = p.parse_args(argv)
    a.submissions = a.submissions or (6 if a.quick else 100)
    a.work = a.work if a.work is not None else (0.01 if a.quick else 1.0)
    a.trivial = a.trivial or (3 if a.quick else 5)
    if not 1 <= a.submissions <= 1000:
        p.error("--submissions must be between 1 and 1000")
    if not 1 <= a.parallel <= 64:
        p.error("--parallel must be between 1 and 64")
    if not 0 < a.work <= 20:
        p.error("--work must be more than 0 and at most 20")
    if not 1 <= a.trivial <= 50:
        p.error("--trivial must be between 1 and 50")
    a.formats = FORMATS if a.format == "both" else (a.format,)
    if a.deadline is None:
        per_sub = PER_SUBMISSION_ALLOWANCE * max(1.0, a.work)
        a.deadline = SETUP_ALLOWANCE + len(a.formats) * (a.submissions + a.trivial) * per_sub
    return a


@dataclass
class Prepared:
    """One format's assignments, made in coursehub, and the answers to grade."""

    fmt: str
    sources: dict[str, Path]  # assignment name → the instructor's folder
    answers: list[dict[str, Any]]  # main submissions, in order
    trivial_answers: list[dict[str, Any]]
    expected: list[dict[str, float]]  # points per question, per main submission


class Bench:
    def __init__(self, a: argparse.Namespace, console: Console) -> None:
        self.a = a
        self.console = console
        run_id = secrets.token_hex(3)
        # not under /tmp: each grading sandbox gets a private /tmp of its own
        self.root = Path(f"/srv/coursehub-bench-grading-{run_id}")
        self.prefix = f"chb{run_id}-"  # this run's sandbox accounts
        self.logs = self.root / "logs"
        self.db_url = f"sqlite:///{self.root / 'coursehub.sqlite'}"
        self.sim: Assignment | None = None
        self.trivial = trivial_assignment()

    # ---- set-up (not timed) --------------------------------------------------------

    def setup(self) -> None:
        self.root.mkdir(mode=0o711)
        self.root.chmod(0o711)
        self.logs.mkdir()
        ensure_schema(self.db_url)
        self.store = GradingStore(Database(self.db_url), GradingPaths(self.root))
        started = time.monotonic()
        self.sim = simulation_assignment(Sizes.scaled(self.a.work))
        self.console.print(
            f"assignment sizes {self.sim.sizes}; its solution and variants ran here in "
            f"{time.monotonic() - started:.1f} s (4 runs)",
            highlight=False,
        )

    def prepare(self, fmt: str) -> Prepared:
        assert self.sim is not None
        build = otter_master if fmt == "otter" else nbgrader_source
        sources: dict[str, Path] = {}
        per_name: dict[str, list[dict[str, Any]]] = {}
        for assignment, count, user in (
            (self.sim, self.a.submissions, "s{:03d}"),
            (self.trivial, self.a.trivial, "t{:02d}"),
        ):
            folder = self.root / "sources" / fmt / assignment.name
            build(assignment, folder)
            sources[assignment.name] = folder
            lifecycle.create(self.store, fmt, assignment.name, folder, fmt=fmt)
            notebook = f"{assignment.name}.ipynb"
            released = self.store.paths.student_version(fmt, assignment.name, fmt) / notebook
            answers_dir = self.root / "answers" / fmt / assignment.name
            answers_dir.mkdir(parents=True)
            made: dict[str, Path] = {}
            rows = []
            for i in range(count):
                variant = assignment.variant(i)
                if variant not in made:
                    made[variant] = answers_dir / f"{variant.replace(' ', '-')}.ipynb"
                    made[variant].write_bytes(answer(assignment, fmt, released, variant))
                rows.append(
                    {
                        "username": user.format(i + 1),
                        "notebook": notebook,
                        "path": str(made[variant]),
                        "variant": variant,
                    }
                )
            per_name[assignment.name] = rows
        expected = [self.sim.expected[r["variant"]] for r in per_name[self.sim.name]]
        return Prepared(fmt, sources, per_name[self.sim.name], per_name["trivial"], expected)

    def timeout(self, count: int, parallel: int = 1) -> float:
        per_sub = PER_SUBMISSION_ALLOWANCE * max(1.0, self.a.work)
        return 120 + count * per_sub / parallel

    # ---- coursehub -----------------------------------------------------------------

    def coursehub(self, p: Prepared) -> tuple[Side, list[str]]:
        a = self.a
        side = Side(p.fmt, "coursehub", f"{a.parallel} workers, sandbox", a.submissions)
        spec = {
            "db_url": self.db_url,
            "data_dir": str(self.root),
            "course": p.fmt,
            "assignment": "sim",
            "trivial": "trivial",
            "answers": p.answers,
            "trivial_answers": p.trivial_answers,
            "parallel": a.parallel,
            "account_prefix": self.prefix,
            "grading_timeout": self.timeout(1),
            "main_timeout": self.timeout(a.submissions, a.parallel),
        }
        spec_path = self.root / f"coursehub-{p.fmt}.json"
        spec_path.write_text(json.dumps(spec))
        limit = self.timeout(a.submissions + a.trivial, 1) + 60
        try:
            m = run_measured(
                [sys.executable, str(HERE / "_grading_coursehub.py"), str(spec_path)],
                log=self.logs / f"coursehub-{p.fmt}.log",
                timeout=limit,
                cwd=self.root,
            )
        finally:
            self.remove_accounts()
        res = m.result
        begin, end = m.phase("main")
        assert end is not None
        side.wall_s = res["last_finished_at"] - res["enqueued_at"]
        side.per_sub_p50_s = median([r["seconds"] for r in res["main"] if r["seconds"]])
        side.fixed_samples = res["trivial_seconds"]
        side.cpu_s = end["cpu"] - begin["cpu"]
        side.peak_rss = m.peak_rss.get("main")
        side.loadavg_1m = begin.get("load")
        key = "test_{}" if p.fmt == "nbgrader" else "{}"
        wrong = check_scores("coursehub", res["main"], p.expected, key)
        wrong += check_scores(
            "coursehub (trivial)", res["trivial"], [{"q1": 1.0}] * len(res["trivial"]), key
        )
        return side, wrong

    def remove_accounts(self) -> None:
        """Whatever sandbox account of this run is left (after an interruption)."""
        for name, uid in our_accounts(self.prefix):
            with contextlib.suppress(Exception):
                kill_all_of(uid, rounds=10)
            subprocess.run(["userdel", name], capture_output=True)
            subprocess.run(["groupdel", name], capture_output=True)

    # ---- baselines -----------------------------------------------------------------

    def otter(self, p: Prepared) -> tuple[Side, list[str]]:
        a = self.a
        side = Side(p.fmt, "otter", "one at a time, otter.api", a.submissions)
        zips = {
            name: sorted(
                (self.store.paths.otter_root(p.fmt, name) / "dist" / "autograder").glob("*.zip")
            )
            for name in ("sim", "trivial")
        }
        for name, found in zips.items():
            if len(found) != 1:
                raise MeasureError(f"otter assign made {len(found)} autograder zips for {name}")
        spec = {
            "zip": str(zips["sim"][0]),
            "trivial_zip": str(zips["trivial"][0]),
            "answers": p.answers,
            "trivial_answers": p.trivial_answers,
        }
        spec_path = self.root / "otter-baseline.json"
        spec_path.write_text(json.dumps(spec))
        work = self.root / "otter-work"
        work.mkdir()
        m = otter(
            spec_path,
            self.logs / "otter-baseline.log",
            self.timeout(a.submissions + a.trivial) + 60,
            work,
        )
        begin, end = m.phase("main")
        assert end is not None
        side.wall_s = end["t"] - begin["t"]
        side.per_sub_p50_s = median([r["seconds"] for r in m.result["main"]])
        side.fixed_samples = [r["seconds"] for r in m.result["trivial"]]
        side.cpu_s = end["cpu"] - begin["cpu"]
        side.peak_rss = m.peak_rss.get("main")
        side.loadavg_1m = begin.get("load")
        wrong = check_scores("otter", m.result["main"], p.expected, "{}")
        trivial = m.result["trivial"]
        wrong += check_scores("otter (trivial)", trivial, [{"q1": 1.0}] * len(trivial), "{}")
        return side, wrong

    def nbgrader(self, p: Prepared) -> tuple[Side, list[str]]:
        a = self.a
        side = Side(p.fmt, "nbgrader", "one at a time, nbgrader autograde", a.submissions)
        course = nbgrader_course(self.root / "nbgrader-course", p.sources)
        ours = self.store.paths.student_version("nbgrader", "sim", "nbgrader") / "sim.ipynb"
        if (course / "release" / "sim" / "sim.ipynb").read_bytes() != ours.read_bytes():
            side.notes.append("nbgrader's student version differs from coursehub's")
        place(course, "trivial", p.trivial_answers)
        place(course, "sim", p.answers)
        log = self.logs / "nbgrader-trivial.log"
        autograde(course, "trivial", log, self.timeout(a.trivial) + 60)
        side.fixed_samples = list(seconds_per_submission(log).values())
        trivial_users = [r["username"] for r in p.trivial_answers]
        wrong = check_scores(
            "nbgrader (trivial)",
            nbgrader_scores(course, "trivial", trivial_users),
            [{"q1": 1.0}] * len(trivial_users),
            "test_{}",
        )
        side.loadavg_1m = os.getloadavg()[0]
        log = self.logs / "nbgrader-sim.log"
        m = autograde(course, "sim", log, self.timeout(a.submissions) + 60)
        side.wall_s = m.wall_s
        times = seconds_per_submission(log)
        side.per_sub_p50_s = median(list(times.values()))
        if len(times) != a.submissions:
            side.notes.append(f"the log shows {len(times)} submissions graded")
        side.cpu_s = m.cpu_s
        side.peak_rss = m.peak_rss.get("")
        users = [r["username"] for r in p.answers]
        wrong += check_scores("nbgrader", nbgrader_scores(course, "sim", users), p.expected,
                              "test_{}")  # fmt: skip
        side.notes.append(
            "wall and CPU include the command's start-up (imports, gradebook), once for all"
        )
        return side, wrong

    # ---- the run -------------------------------------------------------------------

    def run(self) -> tuple[list[Side], list[str]]:
        sides: list[Side] = []
        wrong: list[str] = []
        self.setup()
        for fmt in self.a.formats:
            self.console.print(f"[bold]{fmt}[/bold]: making the assignments (otter assign / "
                               "nbgrader generate_assignment) and the answers…")  # fmt: skip
            p = self.prepare(fmt)
            steps = [("coursehub", self.coursehub), (fmt, getattr(self, fmt))]
            for name, step in steps:
                self.console.print(
                    f"{fmt}: grading {self.a.trivial} trivial + {self.a.submissions} "
                    f"submissions with {name}…"
                )
                started = time.monotonic()
                side, bad = step(p)
                self.console.print(
                    f"{fmt}: {name} done in {time.monotonic() - started:.0f} s "
                    f"({len(bad)} scored wrong)"
                )
                sides.append(side)
                wrong += bad
        return sides, wrong

    def cleanup(self) -> None:
        self.remove_accounts()
        if self.a.keep_logs and self.logs.is_dir():
            self.a.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in self.logs.iterdir():
                shutil.copy(log, self.a.keep_logs / log.name)
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    # wide enough for the table when the output goes to a file (as for the docs)
    console = Console() if sys.stdout.isatty() else Console(width=140)
    if os.geteuid() != 0:
        console.print("grading needs root: the grading sandbox makes throwaway Unix accounts.")
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in background
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(max(1, int(a.deadline)))
    bench = Bench(a, console)
    started = time.monotonic()
    try:
        sides, wrong = bench.run()
    except DeadlinePassed:
        console.print(f"deadline of {a.deadline:.0f} s passed; stopped and cleaned up")
        return 124
    except KeyboardInterrupt:
        console.print("interrupted; stopped and cleaned up")
        return 130
    except MeasureError as e:
        console.print(f"[red]a grader failed[/red]: {e}", highlight=False)
        return 1
    finally:
        signal.alarm(0)
        bench.cleanup()
    if wrong:
        console.print(f"[red]{len(wrong)} gradings scored wrong; no figures reported:[/red]")
        for line in wrong[:50]:
            console.print(f"  {line}", highlight=False)
        return 1
    console.print(
        f"all {sum(s.submissions for s in sides)} main and every trivial submission scored "
        f"as expected; whole run {time.monotonic() - started:.0f} s"
    )
    print_report(sides, console, TITLE)
    if a.json:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
        write_json(a.json, sides, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
