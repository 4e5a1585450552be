"""The grading benchmark's figures: one run's figures, the score check, and the table
(a column per grader, median and range over repetitions, the ratio coursehub /
baseline)."""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from _fair import matrix
from _fair.stats import percentile
from _storm.spread_table import Figure, print_table


@dataclass
class Graded:
    """One grader's run of one format's main submissions (and its trivial ones)."""

    wall_s: float  # first enqueue (or the pool's start) to the last result
    per_sub_s: list[float | None]  # each main submission's grading; None: failed
    trivial_s: list[float]  # trivial submissions graded alone
    tree_cpu_s: float | None  # the grading processes and their reaped children
    peak_rss: int | None  # bytes, the grading process tree, main phase
    window: dict[str, Any]  # the idle wait before, the machine's CPU over the main phase
    wrong: list[str] = field(default_factory=list)  # scores not as expected

    def figures(self, submissions: int) -> dict[str, Any]:
        done = sum(x is not None for x in self.per_sub_s)
        return {
            "submissions": submissions,
            "graded": done,
            "wall_s": self.wall_s,
            "throughput_per_min": done / self.wall_s * 60 if self.wall_s > 0 else None,
            "per_sub_s": self.per_sub_s,
            "trivial_s": self.trivial_s,
            "tree_cpu_s": self.tree_cpu_s,
            "peak_rss": self.peak_rss,
            "wrong": self.wrong,
            "window": self.window,
        }


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


Reader = Callable[[Mapping[str, Any]], Any]
READERS: dict[str, Reader] = {
    "wall": lambda d: d["wall_s"],
    "throughput": lambda d: d["throughput_per_min"],
    "p50": lambda d: percentile(d["per_sub_s"], 0.5),
    "p95": lambda d: percentile(d["per_sub_s"], 0.95),
    "trivial": lambda d: statistics.median(d["trivial_s"]) if d["trivial_s"] else None,
    "cpu": lambda d: d["window"]["cpu"]["site_cpu_s"] / d["submissions"],
    "peak": lambda d: d["peak_rss"] / 1024**2 if d["peak_rss"] else None,
}
FIGURES = (
    Figure("wall", "wall time, all submissions", " s", 1),
    Figure("throughput", "submissions/min", "", 1),
    Figure("p50", "one submission's grading, p50"),
    Figure("p95", "one submission's grading, p95"),
    Figure("trivial", "trivial submission alone, median"),
    Figure("cpu", "machine CPU per submission (main run)", " CPU-s"),
    Figure("peak", "peak memory (RSS, process tree)", " MB", 0),
)


def print_report(
    docs: Sequence[Mapping[str, Any]], a: argparse.Namespace, console: Console, title: str
) -> None:
    for fmt in a.formats:
        ours = [d for d in docs if d["settings"]["format"] == fmt]
        summary = matrix.summarize(ours, READERS)
        print_table(
            console,
            f"{title}: {fmt} format, {a.submissions} submissions, {a.parallel} workers each, "
            f"{a.repetitions} repetition(s)",
            summary, ["coursehub", fmt], FIGURES, [("coursehub", fmt)],
            {"coursehub": "coursehub (sandbox)", fmt: f"{fmt} (pool)"},
        )  # fmt: skip
        mine, theirs = (
            summary.get("coursehub", {}).get("trivial"),
            summary.get(fmt, {}).get("trivial"),
        )
        if mine and theirs and not (math.isinf(mine[0]) or math.isinf(theirs[0])):
            console.print(
                f"{fmt}: sandbox overhead per submission (trivial submission alone, median): "
                f"coursehub {mine[0]:.2f} s − {fmt} {theirs[0]:.2f} s = "
                f"{mine[0] - theirs[0]:+.2f} s",
                highlight=False,
            )
