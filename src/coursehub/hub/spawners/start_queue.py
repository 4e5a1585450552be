"""A first-come, first-served queue of server starts.

JupyterHub's own `concurrent_spawn_limit` refuses starts beyond the limit with an
error page; at the start of a lecture that is exactly the wrong answer. Here starts
beyond the limit wait their turn and can tell the student where they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(eq=False)
class Ticket:
    """One start's place in the queue."""

    name: str
    future: asyncio.Future[None] | None = field(default=None, repr=False)


class StartQueue:
    def __init__(self, slots: int):
        if slots < 1:
            raise ValueError("a start queue needs at least one slot")
        self.slots = slots
        self.active = 0
        self._waiting: list[Ticket] = []

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def position(self, ticket: Ticket) -> int | None:
        """1 for the next start to run; None when not waiting."""
        try:
            return self._waiting.index(ticket) + 1
        except ValueError:
            return None

    @asynccontextmanager
    async def slot(self, ticket: Ticket) -> AsyncIterator[None]:
        await self._acquire(ticket)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, ticket: Ticket) -> None:
        if self.active < self.slots and not self._waiting:
            self.active += 1
            return
        ticket.future = asyncio.get_running_loop().create_future()
        self._waiting.append(ticket)
        try:
            await ticket.future
        except asyncio.CancelledError:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            elif ticket.future.done() and not ticket.future.cancelled():
                # The slot was handed to us just as we were cancelled: pass it on.
                self._release()
            raise

    def _release(self) -> None:
        while self._waiting:
            ticket = self._waiting.pop(0)
            if ticket.future is not None and not ticket.future.done():
                ticket.future.set_result(None)  # the slot moves to this ticket
                return
        self.active -= 1


_queues: dict[int, StartQueue] = {}


def shared_queue(slots: int) -> StartQueue:
    """The hub-wide queue (one per slot count, in practice one)."""
    queue = _queues.get(slots)
    if queue is None:
        queue = _queues[slots] = StartQueue(slots)
    return queue
