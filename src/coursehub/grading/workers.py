"""The grading queue's workers: a configurable number of gradings at once, taken
from the database (so a restart loses nothing), each in the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from coursehub.grading.autograde import grade_submission
from coursehub.grading.grader import GradingLimits
from coursehub.grading.store import GradingStore

log = logging.getLogger("coursehub.grading")


@dataclass(frozen=True)
class Graded:
    """Told to score listeners (the LMS feature sends these on)."""

    course: str
    assignment: str
    username: str
    submission_id: int
    grading_id: int
    total: float | None
    max_total: float


ScoreListener = Callable[[Graded], Awaitable[None] | None]


class GradingWorkers:
    def __init__(
        self,
        store: GradingStore,
        limits: GradingLimits,
        parallel: int = 1,
        python: str = sys.executable,
        grade: Callable[..., dict[str, Any]] = grade_submission,
    ) -> None:
        self.grade = grade  # grade_submission here, or a Slurm job per grading
        self.store = store
        self.limits = limits
        self.parallel = max(1, parallel)
        self.python = python
        self.listeners: list[ScoreListener] = []
        self._wake = asyncio.Event()
        self._done: dict[int, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.store.requeue_interrupted()
        self._tasks = [asyncio.create_task(self._work(i)) for i in range(self.parallel)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def wake(self) -> None:
        self._wake.set()

    async def wait_for(self, gid: int, timeout: float) -> bool:
        """Whether grading `gid` finished within `timeout` seconds."""
        event = self._done.setdefault(gid, asyncio.Event())
        if self.store.grading(gid).state in ("done", "failed"):
            return True
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._done.pop(gid, None)

    async def _work(self, index: int) -> None:
        while True:
            grading = await asyncio.to_thread(self.store.claim)
            if grading is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 2.0)
                continue
            self._wake.set()  # there may be more: let an idle worker look too
            try:
                result: dict[str, Any] = await asyncio.to_thread(
                    self.grade, self.store, grading.id, self.limits, self.python
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded on the grading, shown to staff
                log.exception("grading %s failed", grading.id)
                result = {"state": "failed", "outcome": f"the grader failed: {exc}"[:300]}
            await asyncio.to_thread(self.store.finish, grading.id, **result)
            if (event := self._done.get(grading.id)) is not None:
                event.set()
            await self.tell(grading.id)

    async def tell(self, gid: int) -> None:
        if not self.listeners:
            return
        grading = self.store.grading(gid)
        sub = self.store.submission(grading.submission_id)
        assignment = self.store.by_id(sub.assignment_id)
        news = Graded(
            assignment.course,
            assignment.name,
            sub.username,
            sub.id,
            gid,
            grading.total,
            grading.max_total,
        )
        for listener in self.listeners:
            try:
                maybe = listener(news)
                if asyncio.iscoroutine(maybe):
                    await maybe
            except Exception:  # noqa: BLE001 - one listener must not stop grading
                log.exception("score listener failed for grading %s", gid)
