"""Grading: N submissions of a realistic assignment graded by coursehub and, in the same
run, by otter / nbgrader with a two-process pool, as an admin without coursehub would.

The assignment (``_grading_assignments.py``) has three questions whose answers compute
for real: a numpy Monte Carlo estimate of pi, Conway's game of life and the longest
Collatz chain in pure Python (about 1 s on one core here with ``--work 1``). It is
written twice, as an otter assign master notebook and as an nbgrader source notebook,
with the same tests and points. Submission i answers as variant i % 5: three right,
one with q2 wrong, one with q3 wrong; the points each must get are computed before
grading by running its code and the tests in this process. Any submission scored
otherwise, by any grader, is listed and the run reports no figures.

For each format, each grader ``--repetitions`` times (default 3) in alternating order,
each after a bounded wait for an idle machine (``_fair``):

- **coursehub**: the assignments are made with ``grading.lifecycle.create`` (otter
  assign / nbgrader generate_assignment) in a GradingStore on a fresh SQLite database
  and a data dir under /srv (each sandbox gets a private /tmp). A grading process of
  its own (``_grading_coursehub.py``, as the service's workers) stores every answer
  with ``GradingStore.submit``, grades the trivial submissions one at a time, then
  enqueues all N and runs ``GradingWorkers`` with ``--parallel`` workers until all are
  done: each submission in the sandbox (throwaway account, no network, limits) with
  the service's default limits. Wall time: first enqueue to last finish.
- **otter**: ``otter.api.grade_submission`` (what ``otter run`` runs; ``otter grade``'s
  own parallelism needs Docker) on the autograder zip ``otter assign`` made for
  coursehub, in a ``ProcessPoolExecutor`` of ``--parallel`` workers that imported otter
  before the clock (``_grading_otter.py``). Wall time: the pool's run.
- **nbgrader**: ``NbGraderAPI.autograde`` per student (what ``nbgrader autograde``
  runs; it has no parallelism of its own) in a ``ProcessPoolExecutor`` of
  ``--parallel`` workers on a course directory holding the same source (student
  version made by ``nbgrader generate_assignment``) and the same answer files under
  submitted/ (``_grading_nbgrader.py``). Wall time: the pool's run.

Figures: wall time and throughput (submissions/min); p50 and p95 of one submission's
time in the main run (a failed grading counts as infinitely slow); the fixed cost of
one trivial submission (a one-line answer, graded alone; median of ``--trivial``),
whose difference coursehub − baseline is the sandbox's overhead per submission; the
whole machine's CPU (/proc/stat, less the benchmark's own process) over the main run
per submission; peak memory (RSS summed over the grading process tree, sampled every
50 ms with psutil) during the main run. Raw results per run under
benchmarks/results/grading/.

Bounded: every grading process has a time limit, the whole run ``--deadline``. On error,
Ctrl-C, SIGTERM or the deadline, the grading processes are stopped, this run's sandbox
accounts (their own prefix) are removed and its directory under /srv is deleted.

Needs root (the sandbox makes throwaway Unix accounts). Run from the repository root:

    .venv/bin/python benchmarks/grading.py --quick
    flock /tmp/coursehub-heavy.lock .venv/bin/python benchmarks/grading.py
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

from _fair import matrix
from _fair.idle import IDLE_LIMIT_S
from _fair.matrix import MIN_REPETITIONS, Storm
from _fair.window import StormWindow, before_storm
from _grading_assignments import Assignment, Sizes, answer, nbgrader_source, otter_master
from _grading_assignments import simulation as simulation_assignment
from _grading_assignments import trivial as trivial_assignment
from _grading_baselines import nbgrader_course, otter_autograder, place, venv_env
from _grading_coursehub import our_accounts
from _grading_measure import Measured, MeasureError, run_measured
from _grading_report import Graded, check_scores, print_report
from coursehub.db.session import Database, ensure_schema
from coursehub.grading import lifecycle
from coursehub.grading.paths import GradingPaths
from coursehub.grading.sandbox import kill_all_of
from coursehub.grading.store import GradingStore

HERE = Path(__file__).resolve().parent
TITLE = "Grading: coursehub (sandbox, parallel workers) against otter / nbgrader in a pool"
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
    p.add_argument("--repetitions", type=int, default=MIN_REPETITIONS, help="of each grader")
    p.add_argument(
        "--idle-limit", type=float, default=IDLE_LIMIT_S, help="longest idle wait per run, s"
    )
    p.add_argument("--deadline", type=float, help="seconds for the whole run (default: scaled)")
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
    if not 1 <= a.repetitions <= 20:
        p.error("--repetitions must be between 1 and 20")
    if a.deadline is None:
        per_sub = PER_SUBMISSION_ALLOWANCE * max(1.0, a.work)
        runs = len(a.formats) * 2 * a.repetitions
        a.deadline = SETUP_ALLOWANCE + runs * ((a.submissions + a.trivial) * per_sub / 2
                                               + a.idle_limit + 60)  # fmt: skip
    return a


@dataclass
class Prepared:
    """One format's assignments, made in coursehub, and the answers to grade."""

    fmt: str
    sources: dict[str, Path]  # assignment name → the instructor's folder
    answers: list[dict[str, Any]]  # main submissions, in order
    trivial_answers: list[dict[str, Any]]
    expected: list[dict[str, float]]  # points per question, per main submission
    otter_zips: dict[str, Path]  # otter's own autograder zip per assignment (otter format)


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
        zips = (
            {name: otter_autograder(folder, self.root / "otter-assign" / name)
             for name, folder in sources.items()}
            if fmt == "otter" else {}
        )  # fmt: skip
        return Prepared(fmt, sources, per_name[self.sim.name], per_name["trivial"], expected, zips)

    def timeout(self, count: int, parallel: int = 1) -> float:
        per_sub = PER_SUBMISSION_ALLOWANCE * max(1.0, self.a.work)
        return 120 + count * per_sub / parallel

    def limit(self) -> float:
        """A grading process's time limit: trivial one by one, then the main run."""
        a = self.a
        return self.timeout(a.trivial) + self.timeout(a.submissions, a.parallel) + 60

    def measured(self, script: str, spec: dict[str, Any], name: str, cwd: Path,
                 env: dict[str, str] | None = None) -> tuple[Measured, StormWindow]:  # fmt: skip
        """Run one grading process once the machine is idle (a bounded wait); the
        machine's CPU is counted over its main phase."""
        spec_path = self.root / f"{name}.json"
        spec_path.write_text(json.dumps(spec))
        window = before_storm(
            self.a.submissions, idle_limit=self.a.idle_limit, say=self.console.print
        )

        def on_mark(phase: str) -> None:
            if phase == "main":
                window.cpu.start()
            elif phase == "done":
                window.cpu.stop()

        try:
            measured = run_measured(
                [sys.executable, str(HERE / script), str(spec_path)],
                log=self.logs / f"{name}.log", timeout=self.limit(), cwd=cwd, env=env,
                on_mark=on_mark,
            )  # fmt: skip
        finally:
            window.cpu.stop()
        return measured, window

    # ---- the graders -----------------------------------------------------------------

    def coursehub(self, p: Prepared, rep: int) -> Graded:
        a = self.a
        # each repetition's students are new ones: the store keeps every submission
        spec = {
            "db_url": self.db_url,
            "data_dir": str(self.root),
            "course": p.fmt,
            "assignment": "sim",
            "trivial": "trivial",
            "answers": _renamed(p.answers, rep),
            "trivial_answers": _renamed(p.trivial_answers, rep),
            "parallel": a.parallel,
            "account_prefix": self.prefix,
            "grading_timeout": self.timeout(1),
            "main_timeout": self.timeout(a.submissions, a.parallel),
        }
        try:
            m, window = self.measured(
                "_grading_coursehub.py", spec, f"coursehub-{p.fmt}-{rep}", self.root
            )
        finally:
            self.remove_accounts()
        res = m.result
        begin, end = m.phase("main")
        assert end is not None
        main = res["main"]
        key = "test_{}" if p.fmt == "nbgrader" else "{}"
        wrong = check_scores("coursehub", main, p.expected, key)
        wrong += check_scores(
            "coursehub (trivial)", res["trivial"], [{"q1": 1.0}] * len(res["trivial"]), key
        )
        return Graded(
            wall_s=res["last_finished_at"] - res["enqueued_at"],
            per_sub_s=[r["seconds"] if r["state"] == "done" else None for r in main],
            trivial_s=res["trivial_seconds"],
            tree_cpu_s=end["cpu"] - begin["cpu"],
            peak_rss=m.peak_rss.get("main"),
            window=window.as_dict(),
            wrong=wrong,
        )

    def otter(self, p: Prepared, rep: int) -> Graded:
        zips = p.otter_zips
        spec = {
            "zip": str(zips["sim"]),
            "trivial_zip": str(zips["trivial"]),
            "answers": p.answers,
            "trivial_answers": p.trivial_answers,
            "workers": self.a.parallel,
        }
        work = self.root / f"otter-work-{rep}"
        work.mkdir()
        m, window = self.measured("_grading_otter.py", spec, f"otter-{rep}", work, venv_env())
        return self._baseline(m, window, p, "otter", "{}")

    def nbgrader(self, p: Prepared, rep: int) -> Graded:
        course = nbgrader_course(self.root / f"nbgrader-course-{rep}", p.sources)
        ours = self.store.paths.student_version("nbgrader", "sim", "nbgrader") / "sim.ipynb"
        if (course / "release" / "sim" / "sim.ipynb").read_bytes() != ours.read_bytes():
            raise MeasureError("nbgrader's student version differs from coursehub's")
        place(course, "trivial", p.trivial_answers)
        place(course, "sim", p.answers)
        spec = {
            "course": str(course),
            "users": [r["username"] for r in p.answers],
            "trivial_users": [r["username"] for r in p.trivial_answers],
            "workers": self.a.parallel,
        }
        m, window = self.measured(
            "_grading_nbgrader.py", spec, f"nbgrader-{rep}", course, venv_env()
        )
        return self._baseline(m, window, p, "nbgrader", "test_{}")

    def _baseline(
        self, m: Measured, window: StormWindow, p: Prepared, name: str, key: str
    ) -> Graded:
        begin, end = m.phase("main")
        assert end is not None
        main, trivial = m.result["main"], m.result["trivial"]
        wrong = check_scores(name, main, p.expected, key)
        wrong += check_scores(f"{name} (trivial)", trivial, [{"q1": 1.0}] * len(trivial), key)
        wrong += [f"{name}: {r['error']}" for r in main + trivial if r.get("error")]
        return Graded(
            wall_s=end["t"] - begin["t"],
            per_sub_s=[r["seconds"] for r in main],
            trivial_s=[r["seconds"] for r in trivial if r["seconds"] is not None],
            tree_cpu_s=sum(r.get("cpu_s", 0.0) for r in main),
            peak_rss=m.peak_rss.get("main"),
            window=window.as_dict(),
            wrong=wrong,
        )

    # ---- the run -------------------------------------------------------------------

    def settings(self, fmt: str, grader: str) -> dict[str, Any]:
        a = self.a
        common = {"submissions": a.submissions, "work": a.work, "trivial": a.trivial,
                  "format": fmt}  # fmt: skip
        if grader == "coursehub":
            return {**common, "grader": "coursehub GradingWorkers, sandbox, default limits",
                    "grading.parallel": a.parallel}  # fmt: skip
        how = ("otter.api.grade_submission" if grader == "otter"
               else "nbgrader NbGraderAPI.autograde per student")  # fmt: skip
        return {**common, "grader": f"{how}, ProcessPoolExecutor",
                "pool workers": a.parallel}  # fmt: skip

    def run(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        self.setup()
        for fmt in self.a.formats:
            self.console.print(f"[bold]{fmt}[/bold]: making the assignments (otter assign / "
                               "nbgrader generate_assignment) and the answers…")  # fmt: skip
            p = self.prepare(fmt)
            graders = {"coursehub": self.coursehub, fmt: getattr(self, fmt)}

            def run_one(storm: Storm, p: Prepared = p, graders: Any = graders) -> dict[str, Any]:
                started = time.monotonic()
                graded = graders[storm.target](p, storm.rep)
                self.console.print(
                    f"{p.fmt}: {storm.target} done in {time.monotonic() - started:.0f} s "
                    f"({len(graded.wrong)} scored wrong); machine CPU over the main run "
                    f"{graded.window['cpu']['site_cpu_s']:.1f} CPU-s",
                    highlight=False,
                )
                return graded.figures(self.a.submissions)

            docs += matrix.run(
                "grading", f"{fmt}-{self.a.submissions}-submissions", list(graders),
                self.a.repetitions, lambda t, fmt=fmt: self.settings(fmt, t), run_one,
                say=self.console.print,
            )  # fmt: skip
        return docs

    def remove_accounts(self) -> None:
        """Whatever sandbox account of this run is left (after an interruption)."""
        for name, uid in our_accounts(self.prefix):
            with contextlib.suppress(Exception):
                kill_all_of(uid, rounds=10)
            subprocess.run(["userdel", name], capture_output=True)
            subprocess.run(["groupdel", name], capture_output=True)

    def cleanup(self) -> None:
        self.remove_accounts()
        if self.a.keep_logs and self.logs.is_dir():
            self.a.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in self.logs.iterdir():
                shutil.copy(log, self.a.keep_logs / log.name)
        shutil.rmtree(self.root, ignore_errors=True)


def _renamed(answers: list[dict[str, Any]], rep: int) -> list[dict[str, Any]]:
    return [{**r, "username": f"r{rep}{r['username']}"} for r in answers]


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
    for fmt in a.formats:
        for grader in ("coursehub", fmt):
            console.print(f"settings of {fmt}/{grader}: {bench.settings(fmt, grader)}",
                          highlight=False)  # fmt: skip
    started = time.monotonic()
    try:
        docs = bench.run()
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
    wrong = [line for doc in docs for line in doc["wrong"]]
    if wrong:
        console.print(f"[red]{len(wrong)} gradings scored wrong; no figures reported:[/red]")
        for line in wrong[:50]:
            console.print(f"  {line}", highlight=False)
        return 1
    console.print(
        f"every main and trivial submission of {len(docs)} runs scored as expected; whole "
        f"run {time.monotonic() - started:.0f} s"
    )
    print_report(docs, a, console, TITLE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
