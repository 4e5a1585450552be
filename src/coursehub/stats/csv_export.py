"""The statistics as CSV files, one per table; text cells cannot become formulas."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import datetime

from coursehub.stats.report import CourseStats

TABLES = ("daily", "notebooks", "students", "heatmap", "samples")


def safe_cell(text: str) -> str:
    """No spreadsheet formulas from user-chosen text (usernames, notebook paths)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _when(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def _daily(st: CourseStats) -> Iterable[list]:
    yield ["day", "opens", "saves", "executions", "active_students", "new_students"]
    for r in st.daily:
        yield [r.day.isoformat(), r.opens, r.saves, r.executions, r.active, r.new]


def _notebooks(st: CourseStats) -> Iterable[list]:
    yield ["notebook", "students", "opens"]
    for r in st.notebooks:
        yield [safe_cell(r.path), r.students, r.opens]


def _students(st: CourseStats) -> Iterable[list]:
    yield ["username", "notebooks_opened", "opens", "last_active"]
    for r in st.students:
        yield [
            safe_cell(r.username),
            r.notebooks,
            r.opens,
            r.last_day.isoformat() if r.last_day else "",
        ]


def _heatmap(st: CourseStats) -> Iterable[list]:
    yield ["username", *(safe_cell(n) for n in st.heatmap.notebooks)]
    for name, row in zip(st.heatmap.students, st.heatmap.opens, strict=True):
        yield [safe_cell(name), *row]


def _samples(st: CourseStats) -> Iterable[list]:
    yield [
        "at", "servers", "kernels", "busy_kernels", "cpu_load", "cpu_percent",
        "memory_used", "memory_total", "disk_free", "disk_total",
    ]  # fmt: skip
    machine = {p.at: p for p in st.machine}
    course = {p.at: p for p in st.servers}
    for at in sorted(set(machine) | set(course)):
        c, m = course.get(at), machine.get(at)
        yield [
            _when(at),
            *(_num(getattr(c, k)) if c else "" for k in ("servers", "kernels", "busy_kernels")),
            *(
                _num(getattr(m, k)) if m else ""
                for k in (
                    "cpu_load", "cpu_percent", "memory_used", "memory_total",
                    "disk_free", "disk_total",
                )
            ),
        ]  # fmt: skip


WRITERS: dict[str, Callable[[CourseStats], Iterable[list]]] = {
    "daily": _daily,
    "notebooks": _notebooks,
    "students": _students,
    "heatmap": _heatmap,
    "samples": _samples,
}


def to_csv(stats: CourseStats, table: str) -> str:
    """`table` (one of TABLES) of `stats` as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(WRITERS[table](stats))
    return out.getvalue()
