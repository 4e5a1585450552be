"""The lecture's figures over a matrix: printed after a run, and rendered into the docs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from _fair import matrix
from _fair.cpu import OTHER_WORK
from _fair.stats import FAILED, percentile, ratio, spread

BASELINES = ("baseline-tuned", "baseline-fixes")
OURS = ("coursehub-cold", "coursehub-warmed")


def _times(doc: Mapping[str, Any]) -> list[float | None]:
    return [s["seconds"] if s["ok"] else None for s in doc.get("per_student", [])] or [None] * int(
        doc.get("students", 1)
    )


def _p(q: float) -> Any:
    return lambda doc: percentile(_times(doc), q)


def _cpu(doc: Mapping[str, Any]) -> float | None:
    """The site's CPU per student: the machine's less the benchmark's own process and
    less other work seen on the machine (recomputed from the raw figures)."""
    cpu = doc.get("cpu") or {}
    if "site_cpu_s" not in cpu:
        return None
    return max(0.0, cpu["site_cpu_s"] - _other(doc)) / max(1, int(doc.get("students") or 1))


def _other(doc: Mapping[str, Any]) -> float:
    cpu = doc.get("cpu") or {}
    rows = cpu.get("by_kind_cpu_s") or {}
    return float(cpu.get("other_work_cpu_s", rows.get(OTHER_WORK, 0.0)))


def _warm_cpu(doc: Mapping[str, Any]) -> float | None:
    value = ((doc.get("warm_up") or {}).get("cpu") or {}).get("site_cpu_per_student_s")
    return float(value) if value is not None else None


def _ok(doc: Mapping[str, Any]) -> float:
    return float(doc.get("ok", 0))


FIGURES = {"ok": _ok, "p50": _p(0.5), "p95": _p(0.95), "max": _p(1.0), "cpu": _cpu,
           "warm_cpu": _warm_cpu, "other": _other}  # fmt: skip


def rows(docs: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One row per target: median (range) of each figure over the repetitions."""
    summary = matrix.summarize(docs, FIGURES)
    known = (*OURS, *BASELINES, "baseline-prestarted")
    order = [t for t in known if t in summary] + sorted(t for t in summary if t not in known)
    reps = {t: sum(1 for d in docs if d["target"] == t) for t in summary}
    students = {t: max(int(d.get("students", 0)) for d in docs if d["target"] == t)
                for t in summary}  # fmt: skip
    deadline = max((float(d.get("deadline_s") or 0) for d in docs), default=0) or None
    out = []
    for t in order:
        s = summary[t]
        ok = s["ok"]
        out.append({
            "target": t,
            "reps": str(reps[t]),
            "ok": f"{ok[0]:.0f}/{students[t]}" + (f" ({ok[1]:.0f}–{ok[2]:.0f})"
                                                  if ok and ok[1] != ok[2] else "") if ok else "—",
            "p50": spread(s["p50"], deadline=deadline),
            "p95": spread(s["p95"], deadline=deadline),
            "max": spread(s["max"], deadline=deadline),
            "cpu": _cpu_text(s["cpu"]),
            "warm_cpu": _cpu_text(s["warm_cpu"]),
            "other": _cpu_text(s["other"], 1),
        })  # fmt: skip
    return out


def _cpu_text(value: tuple[float, float, float] | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    median, lo, hi = value
    spread = f" ({lo:.{digits}f}–{hi:.{digits}f})" if hi - lo >= 0.5 * 10**-digits else ""
    return f"{median:.{digits}f}{spread}"


def ratios(docs: Sequence[Mapping[str, Any]]) -> list[str]:
    """coursehub ÷ each baseline row, on the medians of p50, p95 and CPU per student."""
    summary = matrix.summarize(docs, FIGURES)
    lines = []
    for ours in OURS:
        for base in (*BASELINES, "baseline-prestarted"):
            if ours not in summary or base not in summary:
                continue
            parts = []
            for fig in ("p50", "p95", "cpu"):
                a, b = summary[ours][fig], summary[base][fig]
                parts.append(f"{fig} {ratio(a[0] if a else None, b[0] if b else None)}")
            lines.append(f"{ours} / {base}: " + ", ".join(parts))
    return lines


COLUMNS = (("target", "target"), ("reps", "reps"), ("ok", "ok"), ("p50", "p50"),
           ("p95", "p95"), ("max", "max"), ("cpu", "CPU-s/student (storm)"),
           ("warm_cpu", "CPU-s/student (warm-up)"),
           ("other", "other work, CPU-s"))  # fmt: skip


def print_matrix(docs: Sequence[Mapping[str, Any]], console: Console) -> None:
    table = Table(title="Lecture: course link → first cell result (median over repetitions, range)")
    for key, title in COLUMNS:
        table.add_column(title, justify="left" if key == "target" else "right")
    for row in rows(docs):
        table.add_row(*(row[key] for key, _ in COLUMNS))
    console.print(table)
    for line in ratios(docs):
        console.print(f"ratio {line} (below 1: coursehub better)", highlight=False)
    for doc in docs:
        if doc.get("failures"):
            tally = ", ".join(f"{n} × {why}" for why, n in doc["failures"].items())
            console.print(f"{doc['target']} rep {doc['repetition']} failures: {tally}",
                          highlight=False, markup=False)  # fmt: skip
        if doc.get("error"):
            console.print(f"{doc['target']} rep {doc['repetition']}: {doc['error']}",
                          markup=False)  # fmt: skip


def markdown(docs: Sequence[Mapping[str, Any]]) -> str:
    """The same table in Markdown, for docs/benchmarks.md."""
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---" if k == "target" else "---:" for k, _ in COLUMNS) + "|"
    body = ["| " + " | ".join(r[k] for k, _ in COLUMNS) + " |" for r in rows(docs)]
    return "\n".join([head, rule, *body])


def is_failed(value: float | None) -> bool:
    return value is not None and math.isinf(value) and value == FAILED
