"""The measured window of one storm: idle first, then CPU from first click to last result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _fair.cpu import CpuWindow
from _fair.idle import IDLE_LIMIT_S, IDLE_LOAD, IdleWait, wait_idle


@dataclass
class StormWindow:
    idle: IdleWait
    cpu: CpuWindow

    def as_dict(self) -> dict[str, Any]:
        return {"idle": self.idle.as_dict(), "cpu": self.cpu.as_dict()}


def before_storm(
    students: int,
    *,
    idle_load: float = IDLE_LOAD,
    idle_limit: float = IDLE_LIMIT_S,
    say: Callable[[str], None] = print,
) -> StormWindow:
    """Wait (bounded) for an idle machine; the caller starts ``cpu`` at the first click
    and stops it when the last student has their result (or the deadline passed)."""
    idle = wait_idle(threshold=idle_load, limit=idle_limit, say=say)
    return StormWindow(idle, CpuWindow(students))
