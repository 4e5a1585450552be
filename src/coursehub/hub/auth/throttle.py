"""Slow down password guessing: too many failures lock an account for a while.

JupyterHub itself does not limit sign-in attempts. The store is bounded so that
guessing many different usernames cannot grow it without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = 10,
        window: float = 600,
        max_tracked: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_failures = max_failures
        self.window = window
        self.max_tracked = max_tracked
        self._clock = clock
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, key: str) -> list[float]:
        now = self._clock()
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def locked_for(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when not locked."""
        times = self._recent(key)
        if len(times) < self.max_failures:
            return 0.0
        return max(0.0, times[-self.max_failures] + self.window - self._clock())

    def failed(self, key: str) -> None:
        times = self._recent(key)
        times.append(self._clock())
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
