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
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nbformat
import psutil
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from rich.console import Console
from ruamel.yaml import YAML
from websockets.sync.client import connect

from _storm import targets
from _storm.accounts import Credentials
from _storm.figures import pss_mib
from _storm.live_site import make_tokens
from _storm.procs import run_checked
from _storm.tuned_hub import tuned_jupyterhub
from coursehub.courses.kernels import template_socket
from coursehub.student.kernel_provisioner import template_status

COURSE = "kbench"
NOTEBOOK = "intro.ipynb"
CELL = "1 + 1"
TARGETS = ("jupyterhub", "cold", "forked")
# What a notebook saved by JupyterLab with the default Python kernel says.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
LANGUAGE_INFO = {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"}


@dataclass
class Run:
    target: str
    students: int
    result_s: list[float] = field(default_factory=list)  # per student; inf: no result
    kernel_names: list[str] = field(default_factory=list)  # what each session asked for
    kernel_cpu_s: list[float] = field(default_factory=list)
    server_cpu_s: list[float] = field(default_factory=list)
    pss_mib: list[float] = field(default_factory=list)
    machine_cpu_s: float | None = None  # /proc/stat busy, release → last result
    wall_s: float | None = None
    template_pss_mib: float | None = None
    template_cpu_s: float | None = None
    forked: int = 0
    settings: dict[str, object] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def course_notebook() -> nbformat.NotebookNode:
    nb = new_notebook(
        cells=[new_markdown_cell("# Introduction\n\nRun the cell below."), new_code_cell(CELL)]
    )
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    return nb


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


def machine_busy() -> float:
    """CPU-seconds the whole machine has been busy since boot (/proc/stat)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


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


def _put_notebook(server: str, token: str) -> None:
    """The course notebook in the student's server, as the student (contents API)."""
    r = httpx.put(
        f"{server}api/contents/{NOTEBOOK}",
        headers={"Authorization": f"token {token}"},
        json={"type": "notebook", "format": "json", "content": course_notebook()},
        timeout=60,
    )
    r.raise_for_status()


def open_and_run(server: str, token: str, timeout: float) -> tuple[float, str]:
    """JupyterLab opening the notebook and running its first cell: seconds to the
    result, and the kernel name the notebook's metadata asked for."""
    t0 = time.monotonic()
    headers = {"Authorization": f"token {token}"}
    with httpx.Client(headers=headers, timeout=timeout) as http:
        model = http.get(f"{server}api/contents/{NOTEBOOK}", params={"type": "notebook"})
        model.raise_for_status()
        kernel_name = model.json()["content"]["metadata"]["kernelspec"]["name"]
        session = http.post(
            f"{server}api/sessions",
            json={
                "path": NOTEBOOK,
                "type": "notebook",
                "name": NOTEBOOK,
                "kernel": {"name": kernel_name},
            },
        )
        session.raise_for_status()
    kernel = session.json()["kernel"]["id"]
    session_id = uuid.uuid4().hex

    def message(msg_type: str, content: dict) -> tuple[str, str]:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "username": "s",
                  "session": session_id, "version": "5.3"}  # fmt: skip
        body = {"header": header, "parent_header": {}, "metadata": {},
                "content": content, "channel": "shell"}  # fmt: skip
        return msg_id, json.dumps(body)

    ws_url = server.replace("http", "ws", 1) + f"api/kernels/{kernel}/channels"
    end = t0 + timeout
    with connect(
        f"{ws_url}?session_id={session_id}", additional_headers=headers, open_timeout=timeout
    ) as ws:
        # As JupyterLab: ask for the kernel's info once connected, run the cell once
        # the kernel has answered (a request sent before may be lost).
        asked: set[str] = set()
        exec_id: str | None = None
        ask = True
        while time.monotonic() < end:
            if ask and exec_id is None:  # again after 2 s of silence, until it answers
                info_id, info = message("kernel_info_request", {})
                asked.add(info_id)
                ws.send(info)
            try:
                msg = json.loads(ws.recv(timeout=min(2.0, max(0.1, end - time.monotonic()))))
            except TimeoutError:
                ask = True
                continue
            ask = False
            parent = msg.get("parent_header", {}).get("msg_id")
            if parent in asked and msg["msg_type"] == "kernel_info_reply" and exec_id is None:
                exec_id, run = message(
                    "execute_request", {"code": CELL, "silent": False, "store_history": True}
                )
                ws.send(run)
            elif parent is not None and parent == exec_id:
                if msg["msg_type"] == "execute_result":
                    if msg["content"]["data"].get("text/plain") != "2":
                        raise RuntimeError(f"unexpected result {msg['content']['data']}")
                    return time.monotonic() - t0, kernel_name
                if msg["msg_type"] == "error":
                    raise RuntimeError(f"the cell failed: {msg['content'].get('ename')}")
    raise TimeoutError(f"no result within {timeout:.0f} s")


# --------------------------------------------------------------------------- one target


@dataclass
class Student:
    name: str  # hub name
    unix_name: str
    server: str  # its server's URL, ending in /
    token: str


def storm(run: Run, students: list[Student], deadline: float, settle: float) -> None:
    """All students open the notebook at once; then the kernels idle for `settle` s."""
    for s in students:
        try:
            _put_notebook(s.server, s.token)
        except httpx.HTTPError as exc:
            run.failures.append(f"{s.name}: could not put the notebook: {exc}")
    servers = {s.name: _server_of(s.unix_name) for s in students}
    before = {name: _cpu(proc) for name, proc in servers.items()}
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

    threads = [threading.Thread(target=student, args=(s,)) for s in students]
    for thread in threads:
        thread.start()
    busy0, t0 = machine_busy(), time.monotonic()
    barrier.wait()
    for thread in threads:
        thread.join(deadline + 30)
    run.machine_cpu_s = machine_busy() - busy0
    run.wall_s = (max(finished) if finished else time.monotonic()) - t0
    for s in students:
        value = results.get(s.name, "no answer")
        if isinstance(value, str):
            run.failures.append(f"{s.name}: {value}")
            run.result_s.append(float("inf"))
            continue
        run.result_s.append(value[0])
        run.kernel_names.append(value[1])
        if (after := _cpu(servers[s.name])) is not None and before[s.name] is not None:
            run.server_cpu_s.append(after - before[s.name])
        for kernel in _kernels_of(s.unix_name):
            if (cpu := _cpu(kernel)) is not None:
                run.kernel_cpu_s.append(cpu)
    time.sleep(settle)
    for s in students:
        for kernel in _kernels_of(s.unix_name):
            if (pss := pss_mib(kernel.pid)) is not None:
                run.pss_mib.append(pss)


def measure_jupyterhub(n: int, deadline: float, settle: float, console: Console) -> Run:
    run = Run("jupyterhub", n)
    with tuned_jupyterhub(n, kind="ksj", label="kernel-start") as hub:
        run.settings = dict(hub.settings)
        tokens = hub.user_tokens()
        with hub.api() as api:
            for c in hub.students:
                if (problem := _start_server(api, c.username, "", deadline)) is not None:
                    run.failures.append(problem)
        console.print(f"jupyterhub: {n} servers up; {n} students open the notebook…")
        students = [
            Student(c.username, c.username, f"{hub.base_url}/user/{c.username}/",
                    tokens[c.username])
            for c in hub.students
        ]  # fmt: skip
        storm(run, students, deadline, settle)
    return run


def measure_coursehub(mode: str, n: int, deadline: float, settle: float, console: Console) -> Run:
    run = Run(mode, n)
    run.settings = {"servers.start": mode, "idle.timeout": 0, "course environment": "built"}
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
            storm(run, students, deadline, settle)
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


def measure(target: str, n: int, deadline: float, settle: float, console: Console) -> Run:
    if target == "jupyterhub":
        return measure_jupyterhub(n, deadline, settle, console)
    return measure_coursehub(target, n, deadline, settle, console)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--deadline", type=float, default=120.0, help="per wait, seconds")
    parser.add_argument("--settle", type=float, default=10.0, help="idle before PSS, s")
    args = parser.parse_args(argv)
    console = Console(width=110)
    runs = [measure(t, args.students, args.deadline, args.settle, console) for t in TARGETS]
    for run in runs:
        console.print(run)
    return 0 if not any(run.failures for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
