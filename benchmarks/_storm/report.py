"""Summaries, the side-by-side table, the ratio line and the JSON file."""

from __future__ import annotations

import json
import math
import os
import platform
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _storm.browser import StormResult


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


@dataclass
class Summary:
    target: str
    students: int
    ok: int = 0
    p50: float | None = None
    p95: float | None = None
    max: float | None = None
    hub_cpu_per_spawn: float | None = None
    hub_cpu_s: float | None = None
    wall_s: float | None = None
    loadavg_1m: float | None = None  # machine load just before the storm
    failures: dict[str, int] = field(default_factory=dict)
    # median time (s since the clock started) at which successful students ended each phase
    phase_ends_p50: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # the target itself could not run
    notes: list[str] = field(default_factory=list)
    per_student: list[dict[str, Any]] = field(default_factory=list)


def phase_ends(storm: StormResult) -> dict[str, float]:
    ok = [s for s in storm.students if s.ok]
    names = list(dict.fromkeys(name for s in ok for name in s.steps))
    return {
        name: p
        for name in names
        if (p := percentile([s.steps[name] for s in ok if name in s.steps], 0.5)) is not None
    }


def summarize(target: str, n: int, storm: StormResult, notes: tuple[str, ...] = ()) -> Summary:
    times = [s.time_to_ready for s in storm.students if s.ok and s.time_to_ready is not None]
    return Summary(
        target=target,
        students=n,
        ok=len(times),
        p50=percentile(times, 0.50),
        p95=percentile(times, 0.95),
        max=max(times, default=None),
        # divided by N, not by successes: a failed spawn costs the hub too
        hub_cpu_per_spawn=storm.hub_cpu_s / n if storm.hub_cpu_s is not None else None,
        hub_cpu_s=storm.hub_cpu_s,
        wall_s=storm.wall_s,
        loadavg_1m=storm.loadavg_1m,
        failures=dict(Counter(s.reason for s in storm.students if not s.ok and s.reason)),
        phase_ends_p50=phase_ends(storm),
        notes=list(notes),
        per_student=[asdict(s) for s in storm.students],
    )


def failed_target(target: str, n: int, error: str) -> Summary:
    return Summary(target=target, students=n, error=error, failures={"target did not run": n})


def _s(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f} s"


def ratios(results: dict[str, Summary]) -> dict[str, float | None] | None:
    """coursehub ÷ baseline for each figure (below 1 = coursehub is better)."""
    b, c = results.get("baseline"), results.get("coursehub")
    if not b or not c or b.error or c.error:
        return None
    out: dict[str, float | None] = {}
    for key in ("p50", "p95", "max", "hub_cpu_per_spawn"):
        bv, cv = getattr(b, key), getattr(c, key)
        out[key] = cv / bv if bv and cv is not None else None
    return out


LOGIN_STORM_TITLE = "Login storm: time from login form to JupyterLab answering"


def print_report(
    results: dict[str, Summary], console: Console | None = None, title: str = LOGIN_STORM_TITLE
) -> None:
    console = console or Console()
    table = Table(title=title)
    for col in ("target", "students", "ok", "p50", "p95", "max", "hub CPU/spawn"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for r in results.values():
        table.add_row(
            r.target,
            str(r.students),
            "–" if r.error else str(r.ok),
            _s(r.p50),
            _s(r.p95),
            _s(r.max),
            _s(r.hub_cpu_per_spawn, 2),
        )
    console.print(table)
    for r in results.values():
        if r.phase_ends_p50:
            ends = ", ".join(f"{k} {v:.1f}" for k, v in r.phase_ends_p50.items())
            console.print(f"{r.target} phases (median end, s): {ends}", highlight=False)
    for r in results.values():
        if r.error:
            console.print(f"[red]{r.target} did not run:[/red] {r.error}", markup=True)
        elif r.failures:
            console.print(f"{r.target} failures:")
            for reason, count in sorted(r.failures.items(), key=lambda kv: -kv[1]):
                console.print(f"  {count:3d} × {reason}", markup=False, highlight=False)
    ratio = ratios(results)
    if ratio is None:
        if {"baseline", "coursehub"} & results.keys() and len(results) > 1:
            console.print("ratio coursehub / baseline: n/a (a target did not run)")
        return
    parts = [
        f"{k.replace('hub_cpu_per_spawn', 'hub CPU/spawn')} ×{v:.2f}"
        for k, v in ratio.items()
        if v is not None
    ]
    console.print("ratio coursehub / baseline (below 1 is better): " + ", ".join(parts))


def machine() -> dict[str, Any]:
    def ver(dist: str) -> str | None:
        try:
            return version(dist)
        except PackageNotFoundError:
            return None

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jupyterhub": ver("jupyterhub"),
        "jupyterlab": ver("jupyterlab"),
        "coursehub": ver("coursehub"),
    }


def write_json(
    path: Path,
    results: dict[str, Summary],
    settings: dict[str, Any],
    benchmark: str = "login_storm",
) -> None:
    doc = {
        "benchmark": benchmark,
        "settings": settings,
        "machine": machine(),
        "targets": {name: asdict(r) for name, r in results.items()},
        "ratio_coursehub_over_baseline": ratios(results),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
