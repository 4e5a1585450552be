"""Password guessing is slowed down, per account, with a bounded memory."""

from __future__ import annotations

from coursehub.hub.auth.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_locks_after_max_failures_and_unlocks_after_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window=60, clock=clock)
    for _ in range(2):
        throttle.failed("alice")
    assert throttle.locked_for("alice") == 0
    throttle.failed("alice")
    assert 59 <= throttle.locked_for("alice") <= 60
    assert throttle.locked_for("bob") == 0  # other accounts are not affected
    clock.now += 61
    assert throttle.locked_for("alice") == 0


def test_success_clears_failures() -> None:
    throttle = LoginThrottle(max_failures=2, window=60, clock=Clock())
    throttle.failed("alice")
    throttle.succeeded("alice")
    throttle.failed("alice")
    assert throttle.locked_for("alice") == 0


def test_memory_is_bounded_when_guessing_many_names() -> None:
    throttle = LoginThrottle(max_failures=3, window=60, max_tracked=100, clock=Clock())
    for i in range(10_000):
        throttle.failed(f"user{i}")
    assert len(throttle._failures) == 100
