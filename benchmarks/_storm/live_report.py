"""The live class benchmark's figures: CPU of named processes, and the two tables (the
class against its baselines, ingest per batch size) from the raw results."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.console import Console

from _fair import matrix
from _fair.stats import percentile
from _storm.procs import HubCpu
from _storm.spread_table import Figure, print_table

TARGET_EVENTS_PER_S = 2000.0
TARGET_P95_S = 1.0


class CpuMeter:
    """User + system CPU seconds of named processes, read together."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: HubCpu(pid) for name, pid in pids.items()}

    def read(self) -> dict[str, float | None]:
        return {name: cpu() for name, cpu in self.procs.items()}

    @staticmethod
    def spent(
        before: dict[str, float | None], after: dict[str, float | None]
    ) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name, b in before.items():
            x = after.get(name)
            out[name] = None if b is None or x is None else round(x - b, 3)
        return out


Reader = Callable[[Mapping[str, Any]], Any]

CLASS_READERS: dict[str, Reader] = {
    "p50": lambda d: percentile(d["latency_s"], 0.5),
    "p95": lambda d: percentile(d["latency_s"], 0.95),
    "max": lambda d: percentile(d["latency_s"], 1.0),
    "shown": lambda d: 100.0 * d["shown"] / d["saves"] if d["saves"] else None,
    "target_cpu": lambda d: d["target_cpu_total_s"],
    "site_cpu": lambda d: d["window"]["cpu"]["site_cpu_s"],
}
CLASS_FIGURES = (
    Figure("p50", "save → instructor's view, p50", " ms", 0, 1000),
    Figure("p95", "save → instructor's view, p95", " ms", 0, 1000),
    Figure("max", "save → instructor's view, max", " ms", 0, 1000),
    Figure("shown", "saves shown", " %", 1),
    Figure("target_cpu", "CPU of the target's processes", " CPU-s", 2),
    Figure("site_cpu", "machine CPU less the benchmark's own", " CPU-s", 1),
)
INGEST_READERS: dict[str, Reader] = {
    "events_per_s": lambda d: d["events_per_s"],
    "posts_per_s": lambda d: d["posts_per_s"],
    "refused": lambda d: float(d["refused_or_failed"]),
    "per_1000": lambda d: d["service_cpu_per_1000_events"],
    "post_p95": lambda d: d["post_p95_s"],
}
INGEST_FIGURES = (
    Figure("events_per_s", "events/s accepted", "", 0),
    Figure("posts_per_s", "POSTs/s accepted", "", 0),
    Figure("refused", "POSTs refused or failed", "", 0),
    Figure("per_1000", "service CPU per 1000 events", " CPU-s", 3),
    Figure("post_p95", "POST p95", " ms", 0, 1000),
)
LABELS = {
    "coursehub": "coursehub (push)",
    "poll-5s": "5 s poller",
    "poll-1s": "1 s poller",
    "inotify": "inotify watcher",
}


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "missed")


def print_report(
    class_docs: Sequence[Mapping[str, Any]],
    ingest_docs: Sequence[Mapping[str, Any]],
    a: argparse.Namespace,
    console: Console,
    title: str,
) -> None:
    reps = a.repetitions
    summary = matrix.summarize(class_docs, CLASS_READERS)
    ratios = [("coursehub", t) for t in a.targets if t != "coursehub"]
    print_table(
        console, f"{title}: {a.students} students, {a.seconds:.0f} s per segment, "
        f"{reps} repetition(s)", summary, a.targets, CLASS_FIGURES, ratios, LABELS,
    )  # fmt: skip
    ours = [d for d in class_docs if d["target"] == "coursehub"]
    if ours:
        sizes: Counter[str] = Counter()
        for d in ours:
            sizes.update(d["batch_sizes"])
        posts = sum(d["posts"] for d in ours)
        events = sum(d["events"] for d in ours)
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(sizes.items(), key=lambda kv: int(kv[0])))
        console.print(
            f"coursehub: events per POST sent in the class (size: POSTs) {shown}; "
            f"{events} events in {posts} POSTs",
            highlight=False,
        )
        p95 = summary["coursehub"]["p95"]
        console.print(
            f"target p95 ≤ {TARGET_P95_S:.0f} s (median over repetitions): "
            f"{_met(None if p95 is None else p95[0] <= TARGET_P95_S)}",
            highlight=False,
        )
        cpu = Counter[str]()
        for d in ours:
            cpu.update({k: v for k, v in d["target_cpu_s"].items() if v is not None})
        parts = ", ".join(f"{k} {v / len(ours):.2f}" for k, v in cpu.items())
        console.print(f"coursehub CPU per segment (mean, CPU-s): {parts}", highlight=False)
    for d in class_docs:
        if d.get("watcher"):
            w = d["watcher"]
            console.print(
                f"{d['target']}, repetition {d['repetition']}: {w['events']} inotify events, "
                f"{w['rebuilds']} pages rebuilt",
                highlight=False,
            )
        elif "passes" in d:
            console.print(
                f"{d['target']}, repetition {d['repetition']}: {d['passes']} passes, "
                f"each p50 {_ms(d['pass_p50_s'])} max {_ms(d['pass_max_s'])}",
                highlight=False,
            )
    if not ingest_docs:
        return
    sizes_run = list(dict.fromkeys(d["target"] for d in ingest_docs))
    isummary = matrix.summarize(ingest_docs, INGEST_READERS)
    print_table(
        console, f"Events ingested: {a.students} students, {a.concurrency} POSTs in flight, "
        f"{a.ingest_seconds:.0f} s per segment, {reps} repetition(s)",
        isummary, sizes_run, INGEST_FIGURES,
    )  # fmt: skip
    for target in sizes_run:
        eps = isummary[target]["events_per_s"]
        console.print(
            f"{target}: target ≥ {TARGET_EVENTS_PER_S:,.0f} events/s (median): "
            f"{_met(None if eps is None else eps[0] >= TARGET_EVENTS_PER_S)}",
            highlight=False,
        )


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x * 1000:.0f} ms"
