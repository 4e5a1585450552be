"""The notices of one course server: what course staff did to it, for its JupyterLab pages.

The coursehub service tells a server, just before (a server) or just after (a kernel)
a staff member stops something, by posting a notice id; the server fetches the notice
itself from the service with its own token (service_client.py), so only text the
service wrote for this student and course is ever kept here. Pages wait for new
notices with a long poll (`wait`); a page that saved its documents after a server
notice acknowledges it, which lets the service stop the server without losing edits.

Nothing here is kept beyond the server's life: a new server starts with no notices.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("kernel", "server")
NOTICE_ID = re.compile(r"^[0-9a-f]{32}$")
KEEP = 50  # notices kept for pages that reconnect
MAX_MESSAGE = 600


class NoticeError(Exception):
    """The service's answer was not a notice of this server."""


@dataclass(frozen=True)
class Notice:
    seq: int  # this server's order, for the pages' long poll
    id: str  # the service's id
    kind: str  # kernel | server
    message: str  # the service's words; "{time}" stands for `at` in the reader's zone
    at: str  # ISO 8601, UTC
    by: str  # the staff member
    path: str  # the notebook of a stopped kernel ("" if none)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _text(data: dict[str, Any], key: str, limit: int, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value):
        raise NoticeError(f"the service's notice has no proper {key!r}")
    return value


def parse(data: object, notice_id: str) -> dict[str, str]:
    """The fields of a notice as the service answered it, checked."""
    if not isinstance(data, dict) or data.get("id") != notice_id:
        raise NoticeError("the service answered another notice")
    kind = _text(data, "kind", 10)
    if kind not in KINDS:
        raise NoticeError(f"unknown kind of notice {kind[:10]!r}")
    return {
        "id": notice_id,
        "kind": kind,
        "message": _text(data, "message", MAX_MESSAGE),
        "at": _text(data, "at", 40),
        "by": _text(data, "by", 64),
        "path": _text(data, "path", 1000, required=False),
    }


class NoticeBoard:
    """This server's notices, newest last, and the pages waiting for the next one."""

    def __init__(self, keep: int = KEEP) -> None:
        self.epoch = secrets.token_hex(8)  # a page seeing another epoch starts over
        self._notices: deque[Notice] = deque(maxlen=keep)
        self._seq = 0
        self._next: asyncio.Future[None] | None = None
        self._acks: dict[str, asyncio.Event] = {}
        self.listeners = 0

    @property
    def last(self) -> int:
        return self._seq

    def since(self, after: int) -> list[Notice]:
        return [n for n in self._notices if n.seq > after]

    def _future(self) -> asyncio.Future[None]:
        if self._next is None or self._next.done():
            self._next = asyncio.get_running_loop().create_future()
        return self._next

    async def wait(self, after: int, timeout: float) -> list[Notice]:
        """Notices after `after`, waiting up to `timeout` seconds for one."""
        found = self.since(after)
        if found:
            return found
        self.listeners += 1
        try:
            await asyncio.wait_for(asyncio.shield(self._future()), timeout)
        except TimeoutError:
            pass
        finally:
            self.listeners -= 1
        return self.since(after)

    def publish(self, fields: dict[str, str]) -> Notice:
        """Keep a checked notice (once per id) and wake the waiting pages."""
        for known in self._notices:
            if known.id == fields["id"]:
                return known
        self._seq += 1
        notice = Notice(seq=self._seq, **fields)
        self._notices.append(notice)
        self._acks[notice.id] = asyncio.Event()
        for old in list(self._acks)[:-KEEP]:
            del self._acks[old]
        self._future().set_result(None)
        return notice

    def ack(self, notice_id: str) -> bool:
        """A page has done what the notice asked (saved its documents)."""
        event = self._acks.get(notice_id)
        if event is None:
            return False
        event.set()
        return True

    async def acknowledged(self, notice_id: str, timeout: float) -> bool:
        event = self._acks.get(notice_id)
        if event is None:
            return False
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True
