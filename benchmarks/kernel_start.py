"""Kernel starts, cold vs forked: "open notebook → first cell result" for N students at
once, and memory per idle kernel.

One run starts the same coursehub site twice, `servers.start: cold` then
`servers.start: forked` (which also forks kernels from the course's kernel template),
each with N real student accounts and one course whose environment is built by
`coursehub course build` before `up`. In each:

- every student's course server is started first (not measured);
- then all N students at once (threads released together) open the course notebook
  as JupyterLab does: POST /api/sessions with the course kernel, open the kernel's
  websocket, run `1 + 1`; the time is from the request until the cell's result
  arrives. Also per kernel: its CPU-seconds from its start until that result (a forked
  kernel's own CPU since the fork; the template's one-time import cost on its line),
  and the CPU its course server spent meanwhile (session, kernel manager, websocket);
- the kernels are left idle for a while and their PSS is read
  (/proc/<pid>/smaps_rollup), with the kernel template's own.

Prints medians and p95s side by side with the ratio forked / cold. Needs root (real
Unix accounts); loopback and random ports only; every wait is bounded; whatever
happens the hubs are stopped and the accounts and temp dirs deleted.

    .venv/bin/python benchmarks/kernel_start.py --students 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nbformat
import psutil
from nbformat.v4 import new_code_cell, new_notebook
from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML
from websockets.sync.client import connect

from _storm import targets
from _storm.accounts import Credentials
from _storm.figures import percentile, pss_mib
from _storm.live_site import make_tokens
from _storm.procs import run_checked
from coursehub.courses.kernels import kernel_name, template_socket
from coursehub.student.kernel_provisioner import template_status

COURSE = "kbench"
NOTEBOOK = "intro.ipynb"


@dataclass
class Run:
    mode: str
    result_s: list[float] = field(default_factory=list)
    kernel_cpu_s: list[float] = field(default_factory=list)
    server_cpu_s: list[float] = field(default_factory=list)
    pss_mib: list[float] = field(default_factory=list)
    template_pss_mib: float | None = None
    template_cpu_s: float | None = None
    forked: int = 0
    failures: list[str] = field(default_factory=list)


def _course_repo(base: Path) -> Path:
    repo = base / "kbench-repo"
    repo.mkdir(parents=True)
    nb = new_notebook(cells=[new_code_cell("1 + 1")])
    nbformat.write(nb, repo / NOTEBOOK)
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


def _prepare(mode: str, repo: Path, seen: dict[str, Path]):  # noqa: ANN202
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


def _kernels_of(unix_name: str) -> list[psutil.Process]:
    """The student's processes that are not their course server: its kernels."""
    found = []
    for proc in psutil.process_iter(["username", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["username"] == unix_name and "coursehub.student.singleuser" not in cmd:
            found.append(proc)
    return found


def _server_of(unix_name: str) -> psutil.Process | None:
    for proc in psutil.process_iter(["username", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["username"] == unix_name and "coursehub.student.singleuser" in cmd:
            return proc
    return None


def _cpu(proc: psutil.Process | None) -> float | None:
    try:
        times = proc.cpu_times() if proc is not None else None
    except psutil.Error:
        return None
    return None if times is None else times.user + times.system


def _start_server(api: httpx.Client, user: str, deadline: float) -> str | None:
    response = api.post(f"/users/{user}/servers/{COURSE}")
    if response.status_code not in (201, 202, 400):  # 400: already running
        return f"{user}: HTTP {response.status_code} {response.text[:200]}"
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        server = api.get(f"/users/{user}").json().get("servers", {}).get(COURSE)
        if server and server.get("ready"):
            return None
        time.sleep(0.1)
    return f"{user}: course server not ready within {deadline:.0f} s"


def _open_and_run(server: str, token: str, timeout: float) -> float:
    """JupyterLab opening the notebook and running its first cell; seconds to result."""
    t0 = time.monotonic()
    headers = {"Authorization": f"token {token}"}
    session = httpx.post(
        f"{server}api/sessions",
        headers=headers,
        json={
            "path": NOTEBOOK,
            "type": "notebook",
            "name": NOTEBOOK,
            "kernel": {"name": kernel_name(COURSE)},
        },
        timeout=timeout,
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
    with connect(ws_url, additional_headers=headers, open_timeout=timeout) as ws:
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
                    "execute_request", {"code": "1 + 1", "silent": False, "store_history": True}
                )
                ws.send(run)
            elif parent is not None and parent == exec_id:
                if msg["msg_type"] == "execute_result":
                    if msg["content"]["data"].get("text/plain") != "2":
                        raise RuntimeError(f"unexpected result {msg['content']['data']}")
                    return time.monotonic() - t0
                if msg["msg_type"] == "error":
                    raise RuntimeError(f"the cell failed: {msg['content'].get('ename')}")
    raise TimeoutError(f"no result within {timeout:.0f} s")


def measure(mode: str, n: int, deadline: float, settle: float, console: Console) -> Run:
    run = Run(mode)
    seen: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="kernel-start-") as tmp:
        repo = _course_repo(Path(tmp))
        console.print(f"[bold]{mode}[/bold]: a hub with {n} students, building the course…")
        with targets.coursehub(
            n, kind="ksb", label="kernel-start", before_up=_prepare(mode, repo, seen)
        ) as hub:
            config = seen["config"]
            data_dir = Path(YAML(typ="safe").load(config.read_text())["site"]["data_dir"])
            prefix = YAML(typ="safe").load(config.read_text())["spawn"]["local"]["user_prefix"]
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
                if (problem := _start_server(api, name, deadline)) is not None:
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
            servers = {name: _server_of(prefix + name) for name in names}
            before = {name: _cpu(proc) for name, proc in servers.items()}
            barrier = threading.Barrier(n)
            results: dict[str, float | str] = {}

            def student(name: str) -> None:
                barrier.wait()
                try:
                    server = f"{hub.base_url}/user/{name}/{COURSE}/"
                    results[name] = _open_and_run(server, tokens[name], deadline)
                except Exception as exc:  # noqa: BLE001 - counted as a failure
                    results[name] = f"{type(exc).__name__}: {exc}"

            threads = [threading.Thread(target=student, args=(x,)) for x in names]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(deadline + 30)
            for name in names:
                value = results.get(name, "no answer")
                if isinstance(value, str):
                    run.failures.append(f"{name}: {value}")
                    continue
                run.result_s.append(value)
                if (after := _cpu(servers[name])) is not None and before[name] is not None:
                    run.server_cpu_s.append(after - before[name])
                for kernel in _kernels_of(prefix + name):
                    with_times = kernel.cpu_times()
                    run.kernel_cpu_s.append(with_times.user + with_times.system)
                    if template is not None and kernel.ppid() == template["pid"]:
                        run.forked += 1
            console.print(f"{mode}: kernels idle for {settle:.0f} s…")
            time.sleep(settle)
            for name in names:
                for kernel in _kernels_of(prefix + name):
                    if (pss := pss_mib(kernel.pid)) is not None:
                        run.pss_mib.append(pss)
            if template is not None:
                proc = psutil.Process(template["pid"])
                run.template_pss_mib = pss_mib(proc.pid)
                times = proc.cpu_times()
                run.template_cpu_s = times.user + times.system
    return run


def _fmt(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:.2f}{unit}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or a == 0:
        return "—"
    return f"{b / a:.2f}×"


def rows(cold: Run, forked: Run) -> Iterator[tuple[str, float | None, float | None, str]]:
    median = lambda v: statistics.median(v) if v else None  # noqa: E731
    for label, attr, unit in (
        ("open notebook → first result", "result_s", " s"),
        ("kernel CPU until the result", "kernel_cpu_s", " CPU-s"),
        ("server CPU for the open", "server_cpu_s", " CPU-s"),
        ("PSS per idle kernel", "pss_mib", " MiB"),
    ):
        a, b = getattr(cold, attr), getattr(forked, attr)
        yield f"{label}, median", median(a), median(b), unit
        yield f"{label}, p95", percentile(a, 0.95), percentile(b, 0.95), unit
    yield (
        "open notebook → first result, max",
        percentile(cold.result_s, 1),
        percentile(forked.result_s, 1),
        " s",
    )


def report(cold: Run, forked: Run, n: int, console: Console) -> None:
    table = Table(title=f"Kernel starts: {n} students open a notebook at once")
    for column in ("", "cold", "forked", "forked / cold"):
        table.add_column(column, justify="right" if column else "left")
    for label, a, b, unit in rows(cold, forked):
        table.add_row(label, _fmt(a, unit), _fmt(b, unit), _ratio(a, b))
    console.print(table)
    console.print(
        f"forked kernels: {forked.forked}/{len(forked.result_s)}; kernel template: PSS "
        f"{_fmt(forked.template_pss_mib, ' MiB')}, CPU {_fmt(forked.template_cpu_s, ' CPU-s')} "
        "(once per course environment)"
    )
    for run in (cold, forked):
        if run.failures:
            console.print(f"[red]{run.mode}: {len(run.failures)} failed[/red]")
            for line in run.failures[:10]:
                console.print(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--deadline", type=float, default=120.0, help="per wait, seconds")
    parser.add_argument("--settle", type=float, default=10.0, help="idle before PSS, s")
    args = parser.parse_args(argv)
    console = Console(width=110)
    cold = measure("cold", args.students, args.deadline, args.settle, console)
    forked = measure("forked", args.students, args.deadline, args.settle, console)
    report(cold, forked, args.students, console)
    return 0 if not (cold.failures or forked.failures) else 1


if __name__ == "__main__":
    sys.exit(main())
