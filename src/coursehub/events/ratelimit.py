"""A token bucket per sender: steady `rate` events per second, bursts up to `burst`."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)

    def take(self, key: str, n: int = 1) -> float:
        """0 if `n` events may pass now (and they are counted), else seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if n > tokens:
            self._buckets[key] = (tokens, now)
            return (n - tokens) / self.rate if n <= self.burst else float("inf")
        self._buckets[key] = (tokens - n, now)
        if len(self._buckets) > 100_000:  # senders come and go; forget the full buckets
            self._forget_full(now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[key]
