"""The live class benchmark's figures: one summary, the side-by-side table, the JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _storm.report import machine, percentile

TARGET_EVENTS_PER_S = 2000.0
TARGET_P95_S = 1.0


@dataclass
class Latency:
    """Save-to-visible latency of one side: seconds, over the saves it showed."""

    saves: int  # saves it could have shown
    shown: int  # saves whose (student, sha256) it did show
    p50: float | None = None
    p95: float | None = None
    max: float | None = None
    values: list[float] = field(default_factory=list, repr=False)

    @classmethod
    def of(cls, values: list[float], saves: int) -> Latency:
        return cls(saves, len(values), percentile(values, 0.5), percentile(values, 0.95),
                   max(values, default=None), sorted(values))  # fmt: skip


@dataclass
class LiveSummary:
    students: int
    seconds: float
    ingest_seconds: float
    concurrency: int
    per_post: int
    loadavg_1m: float | None = None
    # phase 1: the class
    dashboard: Latency | None = None
    poller: Latency | None = None
    # the same, for the saves after the class's first 5 s (students' first POSTs are done)
    dashboard_warm: Latency | None = None
    # the dashboard's, from the file write rather than from the POST
    dashboard_from_file: Latency | None = None
    poller_warm: Latency | None = None
    class_posts: int = 0
    class_events: int = 0
    class_statuses: dict[str, int] = field(default_factory=dict)
    class_post_p50_s: float | None = None
    class_post_p95_s: float | None = None
    cpu_class: dict[str, float | None] = field(default_factory=dict)  # CPU s over the class
    student_tail_cpu_s: float | None = None  # sha + tail_of in the simulated students
    poller_passes: int = 0
    poller_pass_p50_s: float | None = None
    poller_pass_max_s: float | None = None
    driver_lag_p99_s: float | None = None
    # per save: [s since the class began, dashboard latency, poller latency] (None: not shown)
    save_timeline: list[list[float | None]] = field(default_factory=list, repr=False)
    # phase 2: ingest
    ingest_posts: int = 0
    ingest_events: int = 0
    ingest_statuses: dict[str, int] = field(default_factory=dict)
    ingest_wall_s: float | None = None
    events_per_s: float | None = None
    events_per_s_min: float | None = None  # slowest whole second
    events_per_s_median: float | None = None
    ingest_post_p50_s: float | None = None
    ingest_post_p95_s: float | None = None
    cpu_ingest: dict[str, float | None] = field(default_factory=dict)
    service_cpu_per_1000: float | None = None
    # the dashboard client over both phases
    dashboard_updates: dict[str, int] = field(default_factory=dict)
    dashboard_reloads: int = 0
    dashboard_reconnects: int = 0
    dashboard_error: str | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # the benchmark itself could not run


def _s(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "–"
    if x < 0.1 and digits >= 2:
        return f"{x * 1000:.0f} ms"
    return f"{x:.{digits}f} s"


def _cpu(cpu: dict[str, float | None], *names: str) -> str:
    parts = [(n, cpu.get(n)) for n in names]
    known = [(n, v) for n, v in parts if v is not None]
    if not known:
        return "–"
    total = sum(v for _, v in known)
    if len(known) == 1:
        return f"{total:.1f} s ({known[0][0]})"
    return f"{total:.1f} s (" + " + ".join(f"{n} {v:.1f}" for n, v in known) + ")"


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("[green]met[/green]" if ok else "[red]missed[/red]")


def verdicts(s: LiveSummary) -> dict[str, bool | None]:
    p95 = s.dashboard.p95 if s.dashboard else None
    complete = bool(s.dashboard and s.dashboard.shown == s.dashboard.saves)
    return {
        "events_per_s": None if s.events_per_s is None else s.events_per_s >= TARGET_EVENTS_PER_S,
        "p95": None if p95 is None else (p95 <= TARGET_P95_S and complete),
    }


def print_report(s: LiveSummary, console: Console, title: str) -> None:
    if s.error:
        console.print(f"[red]the benchmark did not run:[/red] {s.error}")
        return
    d, p = s.dashboard, s.poller
    v = verdicts(s)
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("coursehub", justify="right")
    table.add_column("PipalHub-style 5 s polling", justify="right")
    table.add_column("target", justify="right")
    table.add_row("save → dashboard p50", _s(d and d.p50), _s(p and p.p50), "")
    table.add_row("save → dashboard p95", _s(d and d.p95), _s(p and p.p95),
                  f"≤ {TARGET_P95_S:.0f} s {_met(v['p95'])}")  # fmt: skip
    table.add_row("save → dashboard max", _s(d and d.max), _s(p and p.max), "")
    dw, pw = s.dashboard_warm, s.poller_warm
    table.add_row(
        "  p50 / p95 after 5 s",
        f"{_s(dw and dw.p50)} / {_s(dw and dw.p95)}",
        f"{_s(pw and pw.p50)} / {_s(pw and pw.p95)}",
        "",
    )
    table.add_row("saves shown / made", f"{d.shown} / {d.saves}" if d else "–",
                  f"{p.shown} / {p.saves}" if p else "–", "")  # fmt: skip
    table.add_row(
        f"CPU over the class ({s.seconds:.0f} s)",
        _cpu(s.cpu_class, "service", "hub"),
        _cpu(s.cpu_class, "poller"),
        "",
    )
    table.add_row(
        "events/s ingested (rate limit off)",
        "–" if s.events_per_s is None else f"{s.events_per_s:,.0f}",
        "n/a (no ingest API)",
        f"≥ {TARGET_EVENTS_PER_S:,.0f} {_met(v['events_per_s'])}",
    )
    errors = s.ingest_posts - s.ingest_statuses.get("201", 0)
    table.add_row("ingest POSTs refused or failed", f"{errors} of {s.ingest_posts}", "–", "")
    table.add_row("service CPU / 1000 events", _s(s.service_cpu_per_1000, 3), "–", "")
    console.print(table)

    df = s.dashboard_from_file
    lines = [
        f"save → dashboard from the file write (adds the 50 ms gather window and any wait "
        f"for the student's previous POST): p50 {_s(df and df.p50)} p95 {_s(df and df.p95)} "
        f"max {_s(df and df.max)}",
        f"class: {s.students} students, {s.seconds:.0f} s, {s.class_posts} POSTs of "
        f"{s.class_events} events (statuses {dict(s.class_statuses)}), POST p50 "
        f"{_s(s.class_post_p50_s)} p95 {_s(s.class_post_p95_s)}",
        f"class CPU (s): {_fmt_cpu(s.cpu_class)}; sha256 + tail in the students "
        f"(a course server's work, not counted above) {_s(s.student_tail_cpu_s, 2)}",
        f"poller: {s.poller_passes} passes, each p50 {_s(s.poller_pass_p50_s)} max "
        f"{_s(s.poller_pass_max_s)} for {s.students} notebooks; "
        "a save it never showed was overwritten before the next pass",
        f"ingest: {s.ingest_events:,} events accepted in {_s(s.ingest_wall_s, 1)} "
        f"({s.per_post} per POST, ≤ {s.concurrency} POSTs in flight), per second min "
        f"{_n(s.events_per_s_min)} median {_n(s.events_per_s_median)}; POST p50 "
        f"{_s(s.ingest_post_p50_s)} p95 {_s(s.ingest_post_p95_s)}; statuses "
        f"{dict(s.ingest_statuses)}",
        f"ingest CPU (s): {_fmt_cpu(s.cpu_ingest)}",
        f"dashboard: updates {s.dashboard_updates}, reloads {s.dashboard_reloads}, "
        f"reconnects {s.dashboard_reconnects}"
        + (f", last error {s.dashboard_error}" if s.dashboard_error else ""),
        f"driver event-loop lag p99 {_s(s.driver_lag_p99_s)}; load average before "
        f"{s.loadavg_1m if s.loadavg_1m is not None else '–'}",
    ]
    for line in lines + [f"note: {n}" for n in s.notes]:
        console.print(line, highlight=False, markup=False)


def _n(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def _fmt_cpu(cpu: dict[str, float | None]) -> str:
    return ", ".join(f"{k} {'–' if v is None else f'{v:.2f}'}" for k, v in cpu.items())


def write_json(path: Path, s: LiveSummary, settings: dict[str, Any]) -> None:
    doc = {
        "benchmark": "live_class",
        "settings": settings,
        "machine": machine(),
        "targets": {"events_per_s": TARGET_EVENTS_PER_S, "p95_s": TARGET_P95_S},
        "verdicts": verdicts(s),
        "results": asdict(s),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
