"""One percentile function for every benchmark, and how its figures print.

A student who failed (an error page, a timeout, the deadline) waited forever as far as
a percentile is concerned: failures sort after every success. So p95 of 50 students
with 3 failures is a failure (the 48th value), not the p95 of the 47 who succeeded,
which would hide exactly the students a lecture loses.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

FAILED = math.inf


def as_times(values: Iterable[float | None]) -> list[float]:
    """Times with every failure (None, NaN, inf) as ``FAILED``."""
    return [FAILED if v is None or math.isnan(v) else float(v) for v in values]


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """The q-quantile (0 ≤ q ≤ 1) by linear interpolation between closest ranks (numpy's
    default), with every failure (None or inf) counted as infinitely slow.

    Returns None when there are no values at all, ``FAILED`` (inf) when the rank falls
    among the failures or between the last success and the first failure.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q} is not between 0 and 1")
    xs = sorted(as_times(values))
    if not xs:
        return None
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi or xs[lo] == xs[hi]:
        return xs[lo]
    if math.isinf(xs[hi]):
        return FAILED
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median_range(values: Sequence[float | None]) -> tuple[float, float, float] | None:
    """(median, lowest, highest) of one figure over repetitions; failures are inf."""
    xs = sorted(as_times(values))
    if not xs:
        return None
    mid = len(xs) // 2
    if len(xs) % 2 or xs[mid - 1] == xs[mid]:
        median = xs[mid]
    elif math.isinf(xs[mid]):
        median = FAILED
    else:
        median = statistics.fmean((xs[mid - 1], xs[mid]))
    return median, xs[0], xs[-1]


def seconds(value: float | None, *, deadline: float | None = None, digits: int = 1) -> str:
    """A time as printed in every table: "—" when there is none, "> 300 s" (or
    ">deadline") when it is a failure."""
    if value is None:
        return "—"
    if math.isinf(value):
        return f"> {deadline:.0f} s" if deadline else ">deadline"
    return f"{value:.{digits}f} s"


def spread(
    value: tuple[float, float, float] | None, *, deadline: float | None = None, digits: int = 1
) -> str:
    """A median and its range over repetitions, as "12.3 s (11.0–14.2)"."""
    if value is None:
        return "—"
    median, lo, hi = value
    shown = seconds(median, deadline=deadline, digits=digits)
    if lo == hi:
        return shown
    low = "fail" if math.isinf(lo) else f"{lo:.{digits}f}"
    high = ">deadline" if math.isinf(hi) else f"{hi:.{digits}f}"
    return f"{shown} ({low}–{high})"


def ratio(ours: float | None, theirs: float | None) -> str:
    """ours / theirs as "×0.42"; failures and missing figures say so."""
    if ours is None or theirs is None:
        return "—"
    if math.isinf(theirs) and math.isinf(ours):
        return "both failed"
    if math.isinf(theirs):
        return "×0 (baseline failed)"
    if math.isinf(ours):
        return "∞ (ours failed)"
    if theirs == 0:
        return "—"
    return f"×{ours / theirs:.2f}"
