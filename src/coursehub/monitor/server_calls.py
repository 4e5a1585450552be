"""Asking a student's server something: its kernels, each kernel's notebook, to take a
stop notice, to stop a kernel.

Whatever answers there is the student's: they own the server's process and its port,
so a listener of theirs can answer in its place, a byte a minute or a gigabyte at a
time. httpx's timeouts count the time between two reads, not the whole answer, and
it reads a whole body into memory. So every such question has a deadline for the
whole answer and a bound on its size: one student can neither hold the census (and
every recorder fed by it), a staff page or a stop forever, nor fill the service's
memory.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx

DEADLINE = 10.0  # seconds for a whole answer
MAX_ANSWER = 1 << 20  # bytes of an answer's body; a server's kernels fit many times over


class ServerAnswerError(httpx.HTTPError):
    """The server took longer than its deadline, or answered more than MAX_ANSWER."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        """The body's JSON; ValueError for anything else (nesting too deep included)."""
        try:
            return json.loads(self.content)
        except RecursionError:
            raise ValueError("the answer is nested too deep") from None


async def ask_server(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    json: Any = None,
    deadline: float = DEADLINE,
    limit: int = MAX_ANSWER,
) -> Answer:
    """`method` `url` on a student's server: the status and at most `limit` bytes of
    body, within `deadline` seconds in all. Raises httpx.HTTPError (ServerAnswerError
    for an answer too slow or too large)."""
    try:
        async with asyncio.timeout(deadline):
            async with client.stream(
                method,
                url,
                headers={**headers, "Accept-Encoding": "identity"},
                json=json,
                timeout=deadline,
            ) as response:
                _check_encoding(response)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise ServerAnswerError(f"the server's answer is over {limit} bytes")
                return Answer(response.status_code, bytes(body))
    except TimeoutError:
        raise ServerAnswerError(f"the server did not answer within {deadline:g} s") from None


def _check_encoding(response: httpx.Response) -> None:
    """The answer was asked for uncompressed; a server may compress it anyway, only to
    be refused before any of it is read: inflating it would lift the bound."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ServerAnswerError(f"the server's answer is encoded ({encoding[:20]!r})")
