"""Login storm on the Slurm backend next to the local backend, in one run.

N students sign in at the same moment and start their servers (the login-storm
walk of ``_storm/driver.py``: login form to JupyterLab's first API answer), against
three coursehub sites made the same way, one after the other:

- ``local-forked``: the local backend as installed (servers forked from a template);
- ``local-cold``: the local backend with ``servers.start: cold`` (a new interpreter
  per server, as inside a Slurm job);
- ``slurm``: ``spawn.backend: slurm`` on a real one-node cluster started here
  (Debian's slurmctld, slurmd and munge; see tests/helpers/slurm_cluster.py).

For the Slurm site it also reports the scheduler's share of time-to-ready, from
the hub's own log line per start ("sbatch a s, queued b s, server c s"): sbatch is
the submission, queued is from submission until the hub saw the job RUNNING (which
includes coursehub's polling, at most 1 s apart), server is the rest (the starter
and the server starting in the job, then the readiness check). Against the
local-cold site, it separates what Slurm costs from what a cold start costs.

Needs root (real Unix accounts, Slurm's daemons); uses loopback and free ports only,
and stops the cluster and deletes the accounts whatever happens. From the
repository root:

    .venv/bin/python benchmarks/slurm_storm.py --students 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

from _storm import census, targets
from _storm.accounts import Credentials
from _storm.driver import run_storm
from _storm.figures import percentile
from _storm.procs import TargetError
from _storm.report import Summary, failed_target, print_report, summarize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers.slurm_cluster import (  # noqa: E402 - after the repository is on the path
    SlurmCluster,
    SlurmUnavailable,
    start_cluster,
    stop_cluster,
)

READY = re.compile(
    r"Slurm job (\d+) of (\S+) ready: sbatch ([\d.]+) s, queued ([\d.]+) s, server ([\d.]+) s"
)
MEMORY = "512M"  # per server: 20 servers fit the test node easily


def _site(start: str, cluster: SlurmCluster | None, concurrent: int | None):
    def before_up(config: Path, students: list[Credentials]) -> None:
        yaml = YAML()
        doc = yaml.load(config.read_text()) or {}
        servers = doc.setdefault("servers", {})
        servers["start"] = start
        servers.setdefault("limits", {})["memory"] = MEMORY
        if concurrent is not None:
            servers["concurrent_starts"] = concurrent
        if cluster is not None:
            spawn = doc.setdefault("spawn", {})
            spawn["backend"] = "slurm"
            spawn["slurm"] = {"conf": str(cluster.conf)}
        with config.open("w") as f:
            yaml.dump(doc, f)
        targets.add_demo_course(config, students)

    return before_up


def slurm_phases(logs: Path) -> list[dict[str, float]]:
    """One {sbatch, queued, server} per start, from the kept hub log."""
    found = []
    for log in logs.rglob("coursehub-up.log"):
        for match in READY.finditer(log.read_text(errors="replace")):
            sbatch, queued, server = (float(x) for x in match.groups()[2:])
            found.append({"sbatch": sbatch, "queued": queued, "server": server})
    return found


def run_site(
    name: str, args: argparse.Namespace, console: Console, cluster: SlurmCluster | None
) -> tuple[Summary, list[dict[str, float]]]:
    start = "forked" if name == "local-forked" else "cold"
    console.print(f"[bold]{name}[/bold]: starting the hub for {args.students} students…")
    logs = Path(tempfile.mkdtemp(prefix=f"slurm-storm-{name}-"))
    phases: list[dict[str, float]] = []
    try:
        target = targets.coursehub(
            args.students,
            logs,
            kind="sls",
            label="slurm-storm",
            before_up=_site(start, cluster, args.concurrent_starts),
        )
        with target as hub:
            console.print(f"{name}: hub ready at {hub.base_url}; storm!")
            before = census.snapshot()
            storm = asyncio.run(
                run_storm(
                    hub.base_url,
                    hub.students,
                    deadline=args.deadline,
                    hub_cpu=hub.hub_cpu,
                    course=targets.DEMO_COURSE,
                )
            )
            rows = census.breakdown(before, census.snapshot())
            console.print(
                f"{name}: " + census.describe(rows, storm.wall_s, before.cores, args.students),
                highlight=False,
            )
            notes = hub.notes
        phases = slurm_phases(logs)
    except TargetError as e:
        return failed_target(name, args.students, str(e)), []
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    return summarize(name, args.students, storm, notes), phases


def print_scheduler_share(
    phases: list[dict[str, float]], slurm: Summary, cold: Summary | None, console: Console
) -> None:
    if not phases:
        console.print("slurm: no start reported its phases (see the failures above)")
        return
    table = Table(title=f"Slurm: where a start's time went ({len(phases)} starts)")
    for col in ("phase", "p50", "p95", "share of the sum"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    total = sum(sum(p.values()) for p in phases)
    for key in ("sbatch", "queued", "server"):
        values = [p[key] for p in phases]
        table.add_row(
            key,
            f"{percentile(values, 0.5):.3f} s",
            f"{percentile(values, 0.95):.3f} s",
            f"{sum(values) / total:.1%}" if total else "–",
        )
    console.print(table)
    shares = [(p["sbatch"] + p["queued"]) / sum(p.values()) for p in phases if sum(p.values())]
    console.print(
        f"scheduler's share (sbatch + queued) of each start, median: "
        f"{percentile(shares, 0.5):.1%}, p95: {percentile(shares, 0.95):.1%}",
        highlight=False,
    )
    if slurm.p50 and slurm.p95 and cold and cold.p50 and cold.p95 and not cold.error:
        console.print(
            f"time to ready, slurm / local-cold: p50 ×{slurm.p50 / cold.p50:.2f}, "
            f"p95 ×{slurm.p95 / cold.p95:.2f}",
            highlight=False,
        )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same path as Ctrl-C: every cleanup block runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=20, help="students per site (default 20)")
    p.add_argument("--deadline", type=float, default=300, help="seconds per storm (default 300)")
    p.add_argument(
        "--sites", default="local-forked,local-cold,slurm",
        help="comma-separated, from local-forked, local-cold, slurm (default: all three)",
    )  # fmt: skip
    p.add_argument(
        "--concurrent-starts", type=int, default=None,
        help="servers.concurrent_starts for every site (default: each backend's auto)",
    )  # fmt: skip
    args = p.parse_args(argv)
    names = [n.strip() for n in args.sites.split(",") if n.strip()]
    unknown = set(names) - {"local-forked", "local-cold", "slurm"}
    if unknown or not names:
        p.error(f"--sites: unknown {', '.join(sorted(unknown)) or '(none given)'}")
    console = Console()
    if os.geteuid() != 0:
        console.print("slurm_storm needs root: it creates Unix accounts and runs Slurm.")
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    results: dict[str, Summary] = {}
    phases: list[dict[str, float]] = []
    cluster: SlurmCluster | None = None
    try:
        for name in names:
            if name == "slurm":
                root = Path(f"/tmp/coursehub-bench-slurm-{secrets.token_hex(3)}")
                try:
                    cluster = start_cluster(root)
                except SlurmUnavailable as exc:
                    results[name] = failed_target(name, args.students, f"no Slurm here: {exc}")
                    continue
                console.print(f"slurm: one-node cluster up ({cluster.conf})")
            results[name], found = run_site(
                name, args, console, cluster if name == "slurm" else None
            )
            phases += found
    except KeyboardInterrupt:
        console.print("interrupted; hubs and cluster stopped, accounts deleted")
        return 130
    finally:
        if cluster is not None:
            stop_cluster(cluster)
    print_report(results, console, "Login storm: local backend and Slurm backend")
    if "slurm" in results:
        print_scheduler_share(phases, results["slurm"], results.get("local-cold"), console)
    return 1 if any(r.error for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
