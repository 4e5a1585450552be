"""A lecture's storm: every student released (at once or spread over a minute), the CPU
measured from the first click to the last result, and what each student got."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from _fair.stats import FAILED, percentile
from _fair.window import StormWindow
from _lecture.student import LectureStudent
from _storm.browser import StudentResult


async def release(
    students: Sequence[LectureStudent], *, deadline: float, spread_s: float, window: StormWindow
) -> float:
    """Release the students (student i clicks at i × spread / (N − 1) s), each bounded by
    `deadline` from their own click. Returns the wall time from the first click to the
    last result. The window's CPU runs over exactly that time."""
    n = len(students)
    for i, s in enumerate(students):
        s.start_delay = spread_s * i / (n - 1) if spread_s and n > 1 else 0.0
    go = asyncio.Event()

    async def one(s: LectureStudent) -> StudentResult:
        try:
            result: StudentResult = await asyncio.wait_for(s.storm(go), deadline + s.start_delay)
            return result
        except TimeoutError:
            s.result.reason = f"deadline ({deadline:.0f} s) passed during {s.result.phase}"
            return s.result

    tasks = [asyncio.create_task(one(s)) for s in students]
    try:
        await asyncio.sleep(0.1)  # every task is parked on go.wait()
        window.cpu.start()
        t0 = time.perf_counter()
        go.set()
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
        window.cpu.stop()
        return wall
    finally:
        window.cpu.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def close(students: Sequence[LectureStudent]) -> None:
    await asyncio.gather(*(s.client.aclose() for s in students), return_exceptions=True)


def figures(results: Sequence[StudentResult], wall_s: float, deadline: float) -> dict[str, Any]:
    """What a storm's result file holds: every student, and the summary computed once with
    the one percentile function (a failure is infinitely slow; JSON says "failed")."""
    times = [r.time_to_ready if r.ok else None for r in results]

    def shown(value: float | None) -> float | str | None:
        return "failed" if value == FAILED else (round(value, 3) if value is not None else None)

    return {
        "students": len(results),
        "ok": sum(1 for r in results if r.ok),
        "wall_s": round(wall_s, 3),
        "p50_s": shown(percentile(times, 0.5)),
        "p95_s": shown(percentile(times, 0.95)),
        "max_s": shown(percentile(times, 1.0)),
        "deadline_s": deadline,
        "failures": dict(Counter(r.reason for r in results if not r.ok and r.reason)),
        "per_student": [
            {"user": r.username, "ok": r.ok,
             "seconds": round(r.time_to_ready, 3) if r.ok and r.time_to_ready else None,
             "reason": r.reason, "detail": (r.detail or "")[:300] or None,
             "phase_ends_s": {k: round(v, 3) for k, v in r.steps.items()}}
            for r in results
        ],
    }  # fmt: skip
