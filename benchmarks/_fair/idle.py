"""Wait until the machine is idle before a storm, and record how idle it was.

Other work on the machine (another benchmark's clean-up, the set-up of the target just
started) steals CPU from the storm. The 1-minute load average falls slowly (about a
minute's time constant), so the wait is bounded: after ``limit`` seconds the storm
runs anyway, and the load it started under is in its result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

IDLE_LOAD = 0.3
IDLE_LIMIT_S = 300.0


@dataclass(frozen=True)
class IdleWait:
    threshold: float
    load_before: float  # 1-min load average when the wait began
    load_at_start: float  # ... when the storm was let go
    waited_s: float
    reached: bool  # False: the limit passed first and the storm ran anyway

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wait_idle(
    *,
    threshold: float = IDLE_LOAD,
    limit: float = IDLE_LIMIT_S,
    poll: float = 5.0,
    say: Callable[[str], None] = print,
    loadavg: Callable[[], float] = lambda: os.getloadavg()[0],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> IdleWait:
    """Return once the 1-minute load average is below ``threshold``, or after ``limit`` s."""
    start = clock()
    first = load = loadavg()
    if load >= threshold:
        say(f"waiting for the machine to be idle: 1-min load {load:.2f} ≥ {threshold} "
            f"(at most {limit:.0f} s)")  # fmt: skip
    while load >= threshold and clock() - start < limit:
        sleep(min(poll, max(0.0, limit - (clock() - start))))
        load = loadavg()
    waited = clock() - start
    reached = load < threshold
    if not reached:
        say(f"machine still busy after {waited:.0f} s (1-min load {load:.2f}); measuring "
            "anyway, the load is recorded with the result")  # fmt: skip
    elif waited >= 1:
        say(f"machine idle after {waited:.0f} s (1-min load {load:.2f})")
    return IdleWait(threshold, first, load, waited, reached)
