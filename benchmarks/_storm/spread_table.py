"""One table for a matrix of repetitions: a row per figure, a column per target with
the median and range over repetitions (``_fair.stats``), and the ratio of each target
to the baseline's median. Used by kernel_start, live_class and grading."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from _fair.stats import ratio

Spread = tuple[float, float, float] | None


@dataclass(frozen=True)
class Figure:
    key: str  # as in the summary
    label: str
    unit: str = " s"  # printed after the number
    digits: int = 2
    scale: float = 1.0  # e.g. 1000 to print seconds as ms


def number(value: float | None, fig: Figure) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "failed"
    return f"{value * fig.scale:,.{fig.digits}f}{fig.unit}"


def cell(value: Spread, fig: Figure) -> str:
    """ "1.23 s (1.10–1.40)": the median and, when they differ, the lowest and highest."""
    if value is None:
        return "—"
    median, lo, hi = value
    shown = number(median, fig)
    if lo == hi:
        return shown
    low = "failed" if math.isinf(lo) else f"{lo * fig.scale:,.{fig.digits}f}"
    high = "failed" if math.isinf(hi) else f"{hi * fig.scale:,.{fig.digits}f}"
    return f"{shown} ({low}–{high})"


def print_table(
    console: Console,
    title: str,
    summary: Mapping[str, Mapping[str, Spread]],
    targets: Sequence[str],
    figures: Sequence[Figure],
    ratios: Sequence[tuple[str, str]] = (),
    labels: Mapping[str, str] | None = None,
) -> None:
    """`summary[target][figure.key]` as produced by ``_fair.matrix.summarize``; a column
    per (numerator, denominator) in `ratios`: the ratio of their medians."""
    labels = labels or {}
    shown = [t for t in targets if t in summary]
    pairs = [(x, y) for x, y in ratios if x in summary and y in summary]
    table = Table(title=title)
    table.add_column("figure (median, range over repetitions)")
    for target in shown:
        table.add_column(labels.get(target, target), justify="right")
    for x, y in pairs:
        table.add_column(f"{x} / {y}", justify="right")
    for fig in figures:
        row = [fig.label]
        row += [cell(summary[t].get(fig.key), fig) for t in shown]
        for x, y in pairs:
            ours, base = summary[x].get(fig.key), summary[y].get(fig.key)
            row.append(ratio(ours[0] if ours else None, base[0] if base else None))
        table.add_row(*row)
    console.print(table)
