"""Posts a student server's events to the coursehub service, in batches, in the
background: a slow or restarting service never slows the student's notebook."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import Any

from tornado.httpclient import AsyncHTTPClient

log = logging.getLogger("coursehub.student.events")

MAX_QUEUED = 5000  # beyond this the oldest events are dropped (the service is away)
MAX_BATCH = 500
GATHER_SECONDS = 0.05  # events of one burst (a save and its cells) go in one request
MAX_BACKOFF = 60.0


class EventSender:
    def __init__(self, url: str, token: str, gather: float = GATHER_SECONDS):
        self.url = url
        self._headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
        self._gather = gather
        self._queue: deque[dict[str, Any]] = deque(maxlen=MAX_QUEUED)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._warned: set[int] = set()
        self.sent = 0

    def send(self, event: dict[str, Any]) -> None:
        """Queue `event` for the service (call from the server's event loop)."""
        self._queue.append(event)
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        assert self._wake is not None
        self._wake.set()

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until the queue is empty (or `timeout`): for shutdown and tests."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._queue and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)

    async def _run(self) -> None:
        client = AsyncHTTPClient()
        backoff = 1.0
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self._gather)
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                wait = await self._post(client, batch)
                if wait is None:
                    backoff = 1.0
                    continue
                # Put the batch back in front and try again later.
                self._queue.extendleft(reversed(batch))
                await asyncio.sleep(wait or backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _post(self, client: AsyncHTTPClient, batch: list[dict[str, Any]]) -> float | None:
        """None when the batch is done with (sent, or refused for good); otherwise the
        seconds to wait before retrying (0: use the backoff)."""
        try:
            response = await client.fetch(
                self.url,
                method="POST",
                body=json.dumps(batch),
                headers=self._headers,
                raise_error=False,
                request_timeout=15,
            )
        except Exception as exc:  # the service restarting, a network error
            self._warn(0, f"cannot reach the coursehub service: {exc}")
            return 0
        code = response.code
        if code in (200, 201):
            self.sent += len(batch)
            return None
        if code == 429:
            retry = response.headers.get("Retry-After", "1")
            return float(retry) if retry.isdigit() else 1.0
        if code >= 500 or code == 599:
            self._warn(code, f"the coursehub service answered {code}; will retry")
            return 0
        # 4xx other than 429: retrying cannot help. Say why once and drop the batch.
        self._warn(
            code,
            f"the coursehub service refused {len(batch)} events ({code}): "
            f"{(response.body or b'')[:200]!r}",
        )
        return None

    def _warn(self, code: int, message: str) -> None:
        if code not in self._warned:
            self._warned.add(code)
            log.warning(message)
