"""Group commit for incoming events: every batch that arrives while a write is under
way goes into the next write, one transaction and one thread hop for all of them.

A class of a hundred students posts a hundred small batches a second. Written one by
one, each costs a transaction (and, on SQLite, a lock every other writer waits for);
written together, the cost per event falls as the load rises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from coursehub.db import models
from coursehub.db.session import Database
from coursehub.events.live import LiveState, apply_in
from coursehub.events.schema import EventIn
from coursehub.events.store import event_rows, insert_events

MAX_GROUP_EVENTS = 5000  # one transaction stays short even when a backlog built up


@dataclass
class _Pending:
    username: str
    events: list[EventIn]
    done: asyncio.Future[list[int]] = field(repr=False)


class EventWriter:
    """Writes events and the live state they imply; `publish` gets the changed states
    (on the event loop) once they are committed."""

    def __init__(self, db: Database, publish: Callable[[list[LiveState]], None]):
        self.db = db
        self.publish = publish
        self._pending: list[_Pending] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.writes = 0  # transactions, for tests and metrics

    async def submit(self, username: str, events: list[EventIn]) -> list[int]:
        """Store `events` as `username`'s; their ids once committed."""
        loop = asyncio.get_running_loop()
        item = _Pending(username, events, loop.create_future())
        self._pending.append(item)
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run())
        assert self._wake is not None
        self._wake.set()
        return await item.done

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                group: list[_Pending] = []
                size = 0
                while self._pending and (not group or size < MAX_GROUP_EVENTS):
                    item = self._pending.pop(0)
                    group.append(item)
                    size += len(item.events)
                try:
                    ids, states = await asyncio.to_thread(self._write, group)
                except Exception as exc:  # the database is away: every caller hears it
                    for item in group:
                        if not item.done.done():
                            item.done.set_exception(exc)
                    continue
                for item, item_ids in zip(group, ids, strict=True):
                    if not item.done.done():
                        item.done.set_result(item_ids)
                if states:
                    self.publish(states)

    def _write(self, group: list[_Pending]) -> tuple[list[list[int]], list[LiveState]]:
        try:
            return self._write_once(group)
        except IntegrityError:
            # A live row created by another process at the same moment: retry as update.
            return self._write_once(group)

    def _write_once(self, group: list[_Pending]) -> tuple[list[list[int]], list[LiveState]]:
        now = models.utcnow()
        rows = [row for item in group for row in event_rows(item.events, item.username, now)]
        with self.db.session() as s:
            flat = insert_events(s, rows)
            states: dict[tuple[str, str, str], LiveState] = {}
            for item in group:
                for state in apply_in(s, item.username, item.events, now):
                    states[(state.course, state.path, state.username)] = state
        self.writes += 1
        ids, at = [], 0
        for item in group:
            ids.append(flat[at : at + len(item.events)])
            at += len(item.events)
        return ids, list(states.values())
