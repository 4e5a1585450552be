"""The grading benchmark's figures: one row per grader, the ratio coursehub /
baseline, the score check and the JSON file."""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def median(values: list[float]) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


@dataclass
class Side:
    """One grader's run of one format."""

    fmt: str  # otter | nbgrader: the assignment's format
    grader: str  # coursehub | otter | nbgrader
    how: str
    submissions: int
    wall_s: float = math.nan  # all main submissions, first enqueue (or start) to last result
    per_sub_p50_s: float | None = None  # median time one main submission took
    fixed_samples: list[float] = field(default_factory=list)  # trivial submissions, seconds
    cpu_s: float | None = None  # user + system, the grading process tree, main phase
    peak_rss: int | None = None  # bytes, the grading process tree, main phase
    loadavg_1m: float | None = None  # just before the main phase
    notes: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float | None:
        return self.submissions / self.wall_s * 60 if self.wall_s > 0 else None

    @property
    def fixed_s(self) -> float | None:
        return median(self.fixed_samples)

    @property
    def cpu_per_sub(self) -> float | None:
        return self.cpu_s / self.submissions if self.cpu_s is not None else None


def check_scores(
    side: str, got: list[dict[str, Any]], expected: list[dict[str, float]], key: str
) -> list[str]:
    """Every submission's points per question and total as expected; what differs.
    `key` turns a question name into the grader's (nbgrader: test_q1)."""
    wrong = []
    if len(got) != len(expected):
        return [f"{side}: {len(got)} results for {len(expected)} submissions"]
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if g.get("state", "done") != "done":
            wrong.append(f"{side}: submission {i + 1} {g.get('state')}: {g.get('outcome')}")
            continue
        points = {q: g["questions"].get(key.format(q)) for q in e}
        total = sum(e.values())
        if points != e or g["total"] is None or not math.isclose(g["total"], total):
            wrong.append(
                f"{side}: submission {i + 1} got {points} (total {g['total']}), "
                f"expected {e} (total {total:g})"
                + (f"; outcome: {g['outcome']}" if g.get("outcome", "ok") != "ok" else "")
            )
    return wrong


def _s(x: float | None, unit: str = " s") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.2f}{unit}" if x < 10 else f"{x:.1f}{unit}"


def _mb(x: int | None) -> str:
    return "–" if x is None else f"{x / 1024**2:,.0f} MB"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return "–"
    return f"×{a / b:.2f}"


def print_report(sides: list[Side], console: Console, title: str) -> None:
    table = Table(title=title)
    for name, justify in [
        ("format", "left"), ("grader", "left"), ("subs", "right"), ("wall", "right"),
        ("subs/min", "right"), ("p50 per sub", "right"), ("trivial sub", "right"),
        ("CPU/sub", "right"), ("peak memory", "right"),
    ]:  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for fmt in dict.fromkeys(s.fmt for s in sides):
        ours = next((s for s in sides if s.fmt == fmt and s.grader == "coursehub"), None)
        base = next((s for s in sides if s.fmt == fmt and s.grader != "coursehub"), None)
        for s in (ours, base):
            if s is None:
                continue
            tput = s.throughput
            table.add_row(
                fmt, f"{s.grader} ({s.how})", str(s.submissions), _s(s.wall_s),
                "–" if tput is None else f"{tput:.1f}", _s(s.per_sub_p50_s), _s(s.fixed_s),
                _s(s.cpu_per_sub), _mb(s.peak_rss),
            )  # fmt: skip
        if ours and base:
            table.add_row(
                fmt, "ratio coursehub / baseline", "", _ratio(ours.wall_s, base.wall_s),
                _ratio(ours.throughput, base.throughput),
                _ratio(ours.per_sub_p50_s, base.per_sub_p50_s), _ratio(ours.fixed_s, base.fixed_s),
                _ratio(ours.cpu_per_sub, base.cpu_per_sub),
                _ratio(ours.peak_rss, base.peak_rss), end_section=True,
            )  # fmt: skip
    console.print(table)
    for fmt in dict.fromkeys(s.fmt for s in sides):
        ours = next((s for s in sides if s.fmt == fmt and s.grader == "coursehub"), None)
        base = next((s for s in sides if s.fmt == fmt and s.grader != "coursehub"), None)
        if ours and base and ours.fixed_s is not None and base.fixed_s is not None:
            console.print(
                f"{fmt}: sandbox overhead per submission (trivial submission, median of "
                f"{len(ours.fixed_samples)}): coursehub {ours.fixed_s:.2f} s − {base.grader} "
                f"{base.fixed_s:.2f} s = {ours.fixed_s - base.fixed_s:+.2f} s",
                highlight=False,
            )
    for s in sides:
        for note in s.notes:
            console.print(f"{s.fmt}/{s.grader}: {note}", highlight=False)


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def write_json(path: Path, sides: list[Side], settings: dict[str, Any]) -> None:
    data = {
        "settings": settings,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "otter-grader": _version("otter-grader"),
            "nbgrader": _version("nbgrader"),
            "numpy": _version("numpy"),
        },
        "results": [
            {**asdict(s), "throughput_per_min": s.throughput, "fixed_s": s.fixed_s} for s in sides
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
