"""Server starts, cold vs forked: CPU and time per start, and memory per idle server.

One run starts the same coursehub site twice, `servers.start: cold` then
`servers.start: forked`, each with N real student accounts, and for each:

- starts the N servers one after another through the hub's REST API (so the CPU of
  one start is not mixed with another's), and per start measures
  - time to ready: from the API request until the hub reports the server ready (our
    spawner reports ready only once the server answers HTTP);
  - server CPU: user+system CPU-seconds of the server process from its start until
    ready (for a forked server: since the fork; the template's one-time import cost
    is reported on its own line);
  - hub CPU: the hub process's CPU over the same interval;
- then leaves the N servers idle for a while and measures PSS (proportional set size,
  /proc/<pid>/smaps_rollup) per server, and the template's own PSS, and how many idle
  students would fit in 24 GiB.

Prints the medians and p95s side by side with the ratio forked / cold. Needs root
(real Unix accounts); loopback and random ports only; bounded by --deadline per
start; whatever happens, the hubs are stopped and the accounts and temp dirs deleted.

    .venv/bin/python benchmarks/server_start.py --students 10
    .venv/bin/python benchmarks/server_start.py --students 50 --settle 20   # memory figure
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

from _storm import targets
from _storm.accounts import Credentials
from _storm.figures import percentile, pss_mib

GIB = 1024**3
MACHINE_MEMORY = 24 * GIB


@dataclass
class Run:
    mode: str
    ready_s: list[float] = field(default_factory=list)
    first_ready_s: list[float] = field(default_factory=list)
    server_cpu_s: list[float] = field(default_factory=list)
    hub_cpu_s: list[float] = field(default_factory=list)
    pss_mib: list[float] = field(default_factory=list)
    template_pss_mib: float | None = None
    template_cpu_s: float | None = None
    hub_side_pss_mib: float = 0.0
    forked: int = 0
    cold: int = 0
    failures: list[str] = field(default_factory=list)


def _set_start(mode: str, seen: dict[str, Path]):  # noqa: ANN202
    def before_up(config: Path, _creds: list[Credentials]) -> None:
        yaml = YAML()
        doc = yaml.load(config.read_text()) or {}
        servers = doc.setdefault("servers", {})
        servers["start"] = mode
        servers["concurrent_starts"] = 1  # one at a time: clean CPU figures
        doc.setdefault("idle", {})["timeout"] = 0  # nothing culled mid-measurement
        with config.open("w") as f:
            yaml.dump(doc, f)
        seen["config"] = config

    return before_up


def _server_process(unix_name: str) -> psutil.Process | None:
    for proc in psutil.process_iter(["username", "cmdline"]):
        if proc.info["username"] == unix_name and "coursehub.student.singleuser" in " ".join(
            proc.info["cmdline"] or []
        ):
            return proc
    return None


def _template_process(data_dir: Path) -> psutil.Process | None:
    sock = f"--socket={data_dir / 'runtime' / 'server-template.sock'}"
    for proc in psutil.process_iter(["username", "cmdline"]):
        if proc.info["username"] == "root" and sock in " ".join(proc.info["cmdline"] or []):
            return proc
    return None


def _hub_side_pss(data_dir: Path, hub_pid: int) -> float:
    """The hub, proxy and coursehub service: what the machine spends besides servers."""
    total = 0.0
    try:
        up = psutil.Process(hub_pid).parent()
    except psutil.Error:
        return total
    for proc in [up, *up.children(recursive=True)] if up else []:
        if proc.username() == "root" and "zygote.template" not in " ".join(proc.cmdline()):
            total += pss_mib(proc.pid) or 0.0
    return total


def measure(mode: str, n: int, deadline: float, settle: float, console: Console) -> Run:
    run = Run(mode)
    seen: dict[str, Path] = {}
    console.print(f"[bold]{mode}[/bold]: starting a hub with {n} students…")
    with targets.coursehub(
        n, kind="ssb", label="server-start", before_up=_set_start(mode, seen)
    ) as hub:
        data_dir = seen["config"].parent.parent / "data"
        token = (data_dir / "secrets" / "cli_token").read_text().strip()
        hub_port = json.loads((data_dir / "runtime" / "ports.json").read_text())["hub"]
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{hub_port}/hub/api",
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        doc = YAML().load(seen["config"].read_text())
        prefix = doc["spawn"]["local"]["user_prefix"]
        if mode == "forked":
            _wait_template(data_dir, 120)
        # First round: each student's first server ever (the hub makes the Unix account
        # and home). Then the measured round, as at every later lecture.
        first = Run(mode)
        for student in hub.students:
            _one_start(first, api, hub, student.username, prefix + student.username, deadline)
        run.first_ready_s = first.ready_s
        run.failures += first.failures
        for student in hub.students:
            _stop(api, student.username, deadline)
        for student in hub.students:
            _one_start(run, api, hub, student.username, prefix + student.username, deadline)
        console.print(f"{mode}: {len(run.ready_s)} servers ready; idle for {settle:.0f} s…")
        time.sleep(settle)
        for student in hub.students:
            proc = _server_process(prefix + student.username)
            pss = pss_mib(proc.pid) if proc else None
            if pss is not None:
                run.pss_mib.append(pss)
        template = _template_process(data_dir)
        if template is not None:
            run.template_pss_mib = pss_mib(template.pid)
            times = template.cpu_times()
            run.template_cpu_s = times.user + times.system
        hub_pid = int((data_dir / "runtime" / "jupyterhub.pid").read_text())
        run.hub_side_pss_mib = _hub_side_pss(data_dir, hub_pid)
        up_log = seen["config"].parent.parent / "coursehub-up.log"
        if up_log.exists():
            text = up_log.read_text(errors="replace")
            run.forked = text.count("from the server template (pid")
            run.cold = text.count("Cold start for ")
    return run


def _wait_template(data_dir: Path, timeout: float) -> None:
    sock = data_dir / "runtime" / "server-template.sock"
    end = time.monotonic() + timeout
    while not sock.exists() and time.monotonic() < end:
        time.sleep(0.1)


def _stop(api: httpx.Client, user: str, deadline: float) -> None:
    api.delete(f"/users/{user}/server")
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not api.get(f"/users/{user}").json().get("servers"):
            return
        time.sleep(0.1)


def _one_start(
    run: Run, api: httpx.Client, hub: targets.RunningHub, user: str, unix: str, deadline: float
) -> None:
    if api.get(f"/users/{user}").status_code == 404:
        api.post(f"/users/{user}")  # the hub knows students once they sign in; this is that
    hub_before = hub.hub_cpu() or 0.0
    t0 = time.monotonic()
    response = api.post(f"/users/{user}/server")
    if response.status_code not in (201, 202):
        run.failures.append(f"{user}: HTTP {response.status_code} {response.text[:200]}")
        return
    while time.monotonic() - t0 < deadline:
        model = api.get(f"/users/{user}").json()
        server = model.get("servers", {}).get("")
        if server and server.get("ready"):
            break
        time.sleep(0.02)
    else:
        run.failures.append(f"{user}: not ready within {deadline:.0f} s")
        return
    ready = time.monotonic() - t0
    hub_cpu = (hub.hub_cpu() or 0.0) - hub_before
    proc = _server_process(unix)
    if proc is None:
        run.failures.append(f"{user}: ready but no server process found")
        return
    times = proc.cpu_times()
    run.ready_s.append(ready)
    run.server_cpu_s.append(times.user + times.system)
    run.hub_cpu_s.append(hub_cpu)


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b in (None, 0):
        return "-"
    return f"{a / b:.2f}×"


def rows(cold: Run, forked: Run) -> Iterator[tuple[str, float | None, float | None, str]]:
    for label, attr, unit in (
        ("first start ever (account made)", "first_ready_s", " s"),
        ("time to ready", "ready_s", " s"),
        ("server CPU per start", "server_cpu_s", " CPU-s"),
        ("hub CPU per start", "hub_cpu_s", " CPU-s"),
        ("PSS per idle server", "pss_mib", " MiB"),
    ):
        for name, q in (("median", 0.5), ("p95", 0.95)):
            if attr in ("pss_mib", "first_ready_s") and name == "p95":
                continue
            a, b = percentile(getattr(cold, attr), q), percentile(getattr(forked, attr), q)
            yield f"{label} ({name})", a, b, unit


def fits(run: Run) -> int | None:
    """Idle students in 24 GiB: what is left after the hub side and the template, over
    the median PSS per server (PSS already charges each server its share of the pages
    it shares with the template and the others)."""
    if not run.pss_mib:
        return None
    per = statistics.median(run.pss_mib)
    left = MACHINE_MEMORY / 1024**2 - run.hub_side_pss_mib - (run.template_pss_mib or 0)
    return int(left // per)


def report(cold: Run, forked: Run, n: int, console: Console) -> None:
    table = Table(title=f"Server starts, {n} students, one at a time (same run)")
    table.add_column("figure")
    table.add_column("cold", justify="right")
    table.add_column("forked", justify="right")
    table.add_column("forked / cold", justify="right")
    for label, a, b, unit in rows(cold, forked):
        table.add_row(label, _fmt(a, unit), _fmt(b, unit), _ratio(b, a))
    table.add_row("template PSS (shared by all)", "-", _fmt(forked.template_pss_mib, " MiB"), "")
    table.add_row("template CPU since start", "-", _fmt(forked.template_cpu_s, " CPU-s"), "")
    table.add_row("hub+proxy+service PSS", _fmt(cold.hub_side_pss_mib, " MiB"),
                  _fmt(forked.hub_side_pss_mib, " MiB"), "")  # fmt: skip
    table.add_row("idle students in 24 GiB", str(fits(cold) or "-"), str(fits(forked) or "-"),
                  _ratio(fits(forked), fits(cold)))  # fmt: skip
    table.add_row("starts forked / cold (hub log)", f"{cold.forked} / {cold.cold}",
                  f"{forked.forked} / {forked.cold}", "")  # fmt: skip
    console.print(table)
    console.print("targets (issue 9): forked ≤ 0.3 CPU-s and ≤ 0.5 s to ready per server; "
                  "≤ 40 MiB PSS per idle server")  # fmt: skip
    for run in (cold, forked):
        for failure in run.failures:
            console.print(f"[red]{run.mode}: {failure}[/red]", highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=120, help="seconds per start")
    parser.add_argument("--settle", type=float, default=10, help="idle seconds before PSS")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    console = Console()
    cold = measure("cold", args.students, args.deadline, args.settle, console)
    forked = measure("forked", args.students, args.deadline, args.settle, console)
    report(cold, forked, args.students, console)
    if args.json:
        args.json.write_text(json.dumps({"cold": cold.__dict__, "forked": forked.__dict__}))
    ok = not cold.failures and not forked.failures
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
