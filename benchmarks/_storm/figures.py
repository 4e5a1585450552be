"""Figures the start benchmarks share: a process's PSS and a percentile."""

from __future__ import annotations

from pathlib import Path


def pss_mib(pid: int) -> float | None:
    """Proportional set size of `pid` in MiB (None if it is gone or unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def percentile(values: list[float], q: float) -> float | None:
    """The value at quantile `q` (nearest rank), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
