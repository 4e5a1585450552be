"""Kernel starts: "open notebook → first cell result" for N students at once, on a
tuned plain JupyterHub and on coursehub (cold and forked kernels), and memory per idle
kernel.

Three targets, each a fresh site with N real student accounts, every student's server
started before the clock through the hub's REST API (what an admin does before class):

- **jupyterhub**: plain JupyterHub 6 tuned as a competent admin runs it
  (``_storm/tuned_hub.py``: start and HTTP timeouts 300 s, servers started with an
  admin token); the notebook's ``python3`` is the servers' stock ipykernel;
- **cold** / **forked**: ``coursehub up`` with ``servers.start: cold`` / ``forked`` and
  one course whose environment ``coursehub course build`` made before ``up``; in a
  course server ``python3`` is the course's kernel (student/kernelspecs.py), cold or
  forked from the course's kernel template.

The course notebook is a real one: its metadata names the ``python3`` kernel, as nearly
every notebook does. It is put in each student's server through the contents API
before the clock. Then all N students at once (threads released together) open it as
JupyterLab does: GET the notebook from the contents API, POST /api/sessions with the
kernel its metadata names, open the kernel's websocket, ``kernel_info`` until it
answers, run ``1 + 1``; the time is from the first request until the result ``2``.
A student who gets no result counts as infinitely slow in the percentiles.

Per target also: the CPU-seconds of the whole machine (/proc/stat) from the release to
the last result, per student; each kernel's CPU until its result (a forked kernel's own
since the fork; the template's one-time import cost on its own line); each server's
CPU over the open; after ``--settle`` seconds idle, PSS per kernel
(/proc/<pid>/smaps_rollup) and the kernel template's.

Needs root (real Unix accounts); loopback and random ports only; every wait is
bounded; whatever happens the hubs are stopped and the accounts and temp dirs deleted.

    .venv/bin/python benchmarks/kernel_start.py --students 20
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import nbformat
import psutil
from rich.console import Console
from ruamel.yaml import YAML

from _fair import matrix
from _fair.idle import IDLE_LIMIT_S
from _fair.matrix import MIN_REPETITIONS, Storm
from _fair.stats import percentile
from _fair.window import before_storm
from _storm import targets
from _storm.accounts import Credentials
from _storm.figures import pss_mib
from _storm.live_site import make_tokens
from _storm.notebook_client import (
    CELL,
    KERNELSPEC,
    NOTEBOOK,
    course_notebook,
    open_and_run,
    put_notebook,
)
from _storm.procs import run_checked
from _storm.spread_table import Figure, print_table
from _storm.tuned_hub import SETTINGS as TUNED_SETTINGS
from _storm.tuned_hub import tuned_jupyterhub
from coursehub.courses.kernels import template_socket
from coursehub.student.kernel_provisioner import template_status

COURSE = "kbench"
TARGETS = ("jupyterhub", "cold", "forked")


@dataclass
class Run:
    target: str
    students: int
    result_s: list[float | None] = field(default_factory=list)  # per student; None: failed
    kernel_names: list[str] = field(default_factory=list)  # what each session asked for
    kernel_cpu_s: list[float] = field(default_factory=list)
    server_cpu_s: list[float] = field(default_factory=list)
    pss_mib: list[float] = field(default_factory=list)
    window: dict[str, object] = field(default_factory=dict)  # idle wait; CPU release → last
    wall_s: float | None = None
    template_pss_mib: float | None = None
    template_cpu_s: float | None = None
    forked: int = 0
    failures: list[str] = field(default_factory=list)


def _course_repo(base: Path) -> Path:
    repo = base / "kbench-repo"
    repo.mkdir(parents=True)
    nbformat.write(course_notebook(), repo / NOTEBOOK)
    (repo / "course.yaml").write_text(
        "title: Kernel starts\nenvironment:\n  requirements: requirements.txt\n"
    )
    (repo / "requirements.txt").write_text("# the kernel only\n")
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "w1"]):
        subprocess.run(
            ["git", "-c", "user.name=Staff", "-c", "user.email=staff@example.org", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    return repo


def _prepare(mode: str, repo: Path, seen: dict[str, Path]) -> Callable[..., None]:
    def before_up(config: Path, creds: list[Credentials]) -> None:
        yaml = YAML()
        doc = yaml.load(config.read_text()) or {}
        doc.setdefault("servers", {})["start"] = mode
        doc.setdefault("idle", {})["timeout"] = 0  # nothing culled mid-measurement
        with config.open("w") as f:
            yaml.dump(doc, f)
        seen["config"] = config
        names = [c.username for c in creds]
        for args in (
            ("course", "add", COURSE, "--repo", str(repo)),
            ("course", "enrol", COURSE, *names),
            ("course", "build", COURSE),
        ):
            run_checked(targets.cli_argv(config, *args), timeout=600)

    return before_up


# --------------------------------------------------------------------------- processes


def _processes_of(unix_name: str) -> list[tuple[psutil.Process, str]]:
    found = []
    for proc in psutil.process_iter(["username", "cmdline"]):
        if proc.info["username"] == unix_name:
            found.append((proc, " ".join(proc.info["cmdline"] or [])))
    return found


def _is_server(cmd: str) -> bool:
    return "coursehub.student.singleuser" in cmd or "jupyterhub-singleuser" in cmd


def _server_of(unix_name: str) -> psutil.Process | None:
    return next((p for p, cmd in _processes_of(unix_name) if _is_server(cmd)), None)


def _kernels_of(unix_name: str) -> list[psutil.Process]:
    """The student's processes that are not their server: its kernels."""
    return [p for p, cmd in _processes_of(unix_name) if not _is_server(cmd)]


def _cpu(proc: psutil.Process | None) -> float | None:
    try:
        times = proc.cpu_times() if proc is not None else None
    except psutil.Error:
        return None
    return None if times is None else times.user + times.system


# --------------------------------------------------------------------------- the student


def _start_server(api: httpx.Client, user: str, server: str, deadline: float) -> str | None:
    """Start `user`'s server (named `server`, "" for the default one) through the REST
    API and wait until the hub says it is ready; a problem, or None."""
    path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
    response = api.post(path)
    if response.status_code not in (201, 202, 400):  # 400: already running
        return f"{user}: HTTP {response.status_code} {response.text[:200]}"
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        state = api.get(f"/users/{user}").json().get("servers", {}).get(server)
        if state and state.get("ready"):
            return None
        time.sleep(0.1)
    return f"{user}: server not ready within {deadline:.0f} s"


# --------------------------------------------------------------------------- one target


@dataclass
class Student:
    name: str  # hub name
    unix_name: str
    server: str  # its server's URL, ending in /
    token: str


def storm(
    run: Run,
    students: list[Student],
    deadline: float,
    settle: float,
    idle_limit: float,
    console: Console,
) -> None:
    """All students open the notebook at once (after a bounded wait for an idle machine);
    then the kernels idle for `settle` s."""
    for s in students:
        try:
            put_notebook(s.server, s.token)
        except httpx.HTTPError as exc:
            run.failures.append(f"{s.name}: could not put the notebook: {exc}")
    servers = {s.name: _server_of(s.unix_name) for s in students}
    barrier = threading.Barrier(len(students) + 1)
    results: dict[str, tuple[float, str] | str] = {}
    finished: list[float] = []

    def student(s: Student) -> None:
        barrier.wait()
        try:
            results[s.name] = open_and_run(s.server, s.token, deadline)
        except Exception as exc:  # noqa: BLE001 - counted as a failure
            results[s.name] = f"{type(exc).__name__}: {exc}"
        finished.append(time.monotonic())

    threads = [threading.Thread(target=student, args=(s,), daemon=True) for s in students]
    for thread in threads:
        thread.start()
    window = before_storm(len(students), idle_limit=idle_limit, say=console.print)
    before = {name: _cpu(proc) for name, proc in servers.items()}
    t0 = time.monotonic()
    window.cpu.start()
    barrier.wait()
    for thread in threads:
        thread.join(deadline + 30)
    window.cpu.stop()
    run.window = window.as_dict()
    run.wall_s = (max(finished) if finished else time.monotonic()) - t0
    for s in students:
        value = results.get(s.name, "no answer")
        if isinstance(value, str):
            run.failures.append(f"{s.name}: {value}")
            run.result_s.append(None)
            continue
        run.result_s.append(value[0])
        run.kernel_names.append(value[1])
        if (after := _cpu(servers[s.name])) is not None and before[s.name] is not None:
            run.server_cpu_s.append(after - before[s.name])
        for kernel in _kernels_of(s.unix_name):
            if (cpu := _cpu(kernel)) is not None:
                run.kernel_cpu_s.append(cpu)
    console.print(f"{run.target}: {window.cpu.describe()}", highlight=False)
    time.sleep(settle)
    for s in students:
        for kernel in _kernels_of(s.unix_name):
            if (pss := pss_mib(kernel.pid)) is not None:
                run.pss_mib.append(pss)


def measure_jupyterhub(
    n: int, deadline: float, settle: float, idle_limit: float, console: Console
) -> Run:
    run = Run("jupyterhub", n)
    with tuned_jupyterhub(n, kind="ksj", label="kernel-start") as hub:
        tokens = hub.user_tokens()
        with hub.api() as api:
            for c in hub.students:
                if (problem := _start_server(api, c.username, "", deadline)) is not None:
                    run.failures.append(problem)
        console.print(f"jupyterhub: {n} servers up; {n} students open the notebook…")
        students = [
            Student(
                c.username, c.username, f"{hub.base_url}/user/{c.username}/", tokens[c.username]
            )
            for c in hub.students
        ]
        storm(run, students, deadline, settle, idle_limit, console)
    return run


def measure_coursehub(
    mode: str, n: int, deadline: float, settle: float, idle_limit: float, console: Console
) -> Run:
    run = Run(mode, n)
    seen: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="kernel-start-") as tmp:
        repo = _course_repo(Path(tmp))
        console.print(f"[bold]{mode}[/bold]: a hub with {n} students, building the course…")
        with targets.coursehub(
            n, kind="ksb", label="kernel-start", before_up=_prepare(mode, repo, seen)
        ) as hub:
            config = YAML(typ="safe").load(seen["config"].read_text())
            data_dir = Path(config["site"]["data_dir"])
            prefix = config["spawn"]["local"]["user_prefix"]
            names = [s.username for s in hub.students]
            tokens = make_tokens(data_dir, names)
            token = (data_dir / "secrets" / "cli_token").read_text().strip()
            hub_port = json.loads((data_dir / "runtime" / "ports.json").read_text())["hub"]
            api = httpx.Client(
                base_url=f"http://127.0.0.1:{hub_port}/hub/api",
                headers={"Authorization": f"token {token}"},
                timeout=30,
            )
            for name in names:
                if (problem := _start_server(api, name, COURSE, deadline)) is not None:
                    run.failures.append(problem)
            template = None
            if mode == "forked":
                end = time.monotonic() + 120
                socket = str(template_socket(data_dir, COURSE))
                while template is None and time.monotonic() < end:
                    template = template_status(socket)
                    time.sleep(0.2)
                if template is None:
                    run.failures.append("no kernel template answered within 120 s")
            console.print(f"{mode}: {n} course servers up; {n} students open the notebook…")
            students = [
                Student(x, prefix + x, f"{hub.base_url}/user/{x}/{COURSE}/", tokens[x])
                for x in names
            ]
            storm(run, students, deadline, settle, idle_limit, console)
            if template is not None:
                run.forked = sum(
                    1
                    for s in students
                    for k in _kernels_of(s.unix_name)
                    if _parent(k) == template["pid"]
                )
                run.template_pss_mib = pss_mib(template["pid"])
                run.template_cpu_s = _cpu(psutil.Process(template["pid"]))
    return run


def _parent(proc: psutil.Process) -> int | None:
    try:
        return proc.ppid()
    except psutil.Error:
        return None


def measure(
    target: str, n: int, deadline: float, settle: float, idle_limit: float, console: Console
) -> Run:
    if target == "jupyterhub":
        return measure_jupyterhub(n, deadline, settle, idle_limit, console)
    return measure_coursehub(target, n, deadline, settle, idle_limit, console)


# --------------------------------------------------------------------------- the matrix

LABELS = {
    "jupyterhub": "plain JupyterHub, tuned",
    "cold": "coursehub, cold",
    "forked": "coursehub, forked",
}


def settings_of(target: str, a: argparse.Namespace) -> dict[str, object]:
    """Everything a target ran with: printed, and saved with each result."""
    common: dict[str, object] = {
        "students": a.students,
        "deadline_s": a.deadline,
        "settle_s": a.settle,
        "notebook kernelspec": KERNELSPEC["name"],
        "first cell": CELL,
        "servers": "started before the clock through the hub's REST API",
    }
    if target == "jupyterhub":
        return {**common, **TUNED_SETTINGS}
    return {
        **common,
        "hub": "coursehub up (coursehub init's coursehub.yaml)",
        "servers.start": target,
        "idle.timeout": 0,
        "course environment": "built by coursehub course build before up",
        "kernel": "python3 = the course's kernel, "
        + ("forked from its template" if target == "forked" else "started cold"),
    }


def figures_of(run: Run) -> dict[str, object]:
    ok = [x for x in run.result_s if x is not None]
    return {
        "students": run.students,
        "ok": len(ok),
        "result_s": [None if x is None else round(x, 4) for x in run.result_s],
        "kernel_names": sorted(set(run.kernel_names)),
        "kernel_cpu_s": run.kernel_cpu_s,
        "server_cpu_s": run.server_cpu_s,
        "pss_mib": [round(x, 2) for x in run.pss_mib],
        "wall_s": run.wall_s,
        "window": run.window,
        "forked": run.forked,
        "template_pss_mib": run.template_pss_mib,
        "template_cpu_s": run.template_cpu_s,
        "failures": run.failures,
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


READERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "ok": lambda d: float(d["ok"]),
    "p50": lambda d: percentile(d["result_s"], 0.5),
    "p95": lambda d: percentile(d["result_s"], 0.95),
    "max": lambda d: percentile(d["result_s"], 1.0),
    "cpu_per_student": lambda d: d["window"]["cpu"]["site_cpu_per_student_s"],
    "kernel_cpu": lambda d: _median(d["kernel_cpu_s"]),
    "server_cpu": lambda d: _median(d["server_cpu_s"]),
    "pss": lambda d: _median(d["pss_mib"]),
}
FIGURES = (
    Figure("ok", "students with the result", "", 0),
    Figure("p50", "open notebook → first result, p50"),
    Figure("p95", "open notebook → first result, p95"),
    Figure("max", "open notebook → first result, max"),
    Figure("cpu_per_student", "machine CPU per student (release → last result)", " CPU-s"),
    Figure("kernel_cpu", "kernel CPU until the result, median", " CPU-s"),
    Figure("server_cpu", "server CPU for the open, median", " CPU-s"),
    Figure("pss", "PSS per idle kernel, median", " MiB", 1),
)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=20)
    p.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated, from {', '.join(TARGETS)} (default all)",
    )
    p.add_argument(
        "--repetitions",
        type=int,
        default=MIN_REPETITIONS,
        help=f"of each target, order alternating (default {MIN_REPETITIONS})",
    )
    p.add_argument("--deadline", type=float, default=120.0, help="per wait, seconds")
    p.add_argument("--settle", type=float, default=10.0, help="idle before PSS, s")
    p.add_argument(
        "--idle-limit",
        type=float,
        default=IDLE_LIMIT_S,
        help="longest wait for an idle machine before each storm, s",
    )
    a = p.parse_args(argv)
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    if unknown := [t for t in a.targets if t not in TARGETS]:
        p.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    if not 1 <= a.students <= 500 or not 1 <= a.repetitions <= 20:
        p.error("--students must be 1-500 and --repetitions 1-20")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    console = Console(width=140)
    if os.geteuid() != 0:
        console.print("kernel_start needs root: the sites make real Unix accounts.")
        return 2
    # Ctrl-C and SIGTERM (also when run in the background) take the same path: every
    # site's cleanup runs
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    for target in a.targets:
        console.print(
            f"settings of {target}: {json.dumps(settings_of(target, a))}",
            highlight=False,
            soft_wrap=True,
        )

    def run_one(storm: Storm) -> dict[str, Any]:
        run = measure(storm.target, a.students, a.deadline, a.settle, a.idle_limit, console)
        return figures_of(run)

    try:
        docs = matrix.run(
            "kernel_start",
            f"{a.students}-students-at-once",
            a.targets,
            a.repetitions,
            lambda t: settings_of(t, a),
            run_one,
            say=console.print,
        )
    except KeyboardInterrupt:
        console.print("interrupted; the sites were stopped and cleaned up")
        return 130
    summary = matrix.summarize(docs, READERS)
    ratios = [(t, "jupyterhub") for t in a.targets if t != "jupyterhub"]
    print_table(
        console,
        f"Kernel starts: {a.students} students open a notebook at once "
        f"({a.repetitions} repetition(s))",
        summary,
        a.targets,
        FIGURES,
        ratios,
        LABELS,
    )
    for doc in docs:
        if doc["target"] == "forked":
            console.print(
                f"forked, repetition {doc['repetition']}: {doc['forked']} of {doc['ok']} kernels "
                f"forked; kernel template PSS {doc['template_pss_mib']} MiB, CPU "
                f"{doc['template_cpu_s']} CPU-s (once per course environment)",
                highlight=False,
            )
        if doc["failures"]:
            console.print(
                f"[red]{doc['target']}, repetition {doc['repetition']}: "
                f"{len(doc['failures'])} failed[/red]"
            )
            for line in doc["failures"][:10]:
                console.print(f"  {line}", highlight=False)
    return 0 if not any(doc["failures"] for doc in docs) else 1


if __name__ == "__main__":
    sys.exit(main())
