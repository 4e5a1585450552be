"""Live updates to connected dashboards, in-process.

The service is one process, so a dictionary of queues is the whole broker: the events
API publishes the states it just stored, each dashboard stream takes what concerns its
course (and notebook). A dashboard that does not keep up is told to reload instead of
making the publisher wait or the queue grow without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

QUEUE_LIMIT = 2000


@dataclass(eq=False)
class Subscription:
    course: str
    path: str | None  # None: every notebook of the course
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    lagged: bool = False

    def wants(self, update: dict[str, Any]) -> bool:
        return self.path is None or update.get("path") == self.path


class LiveBroker:
    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}

    def subscribe(self, course: str, path: str | None = None) -> Subscription:
        sub = Subscription(course, path)
        self._subs.setdefault(course, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.course)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.course]

    def subscribers(self, course: str) -> int:
        return len(self._subs.get(course, ()))

    def publish(self, course: str, updates: Iterable[dict[str, Any]]) -> None:
        """Hand `updates` to every subscriber of `course` (call from the event loop)."""
        subs = self._subs.get(course)
        if not subs:
            return
        for update in updates:
            for sub in subs:
                if sub.lagged or not sub.wants(update):
                    continue
                try:
                    sub.queue.put_nowait(update)
                except asyncio.QueueFull:
                    sub.lagged = True
