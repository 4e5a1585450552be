"""What a student's server answers the service is bounded: a real listener on this
machine answers as a hostile student's would (a byte at a time, without end, packed,
nested beyond reason, with counts that are no numbers)."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from coursehub.monitor.census import CensusTarget, server_kernels
from coursehub.monitor.server_calls import ServerAnswerError, ask_server
from coursehub.monitor.server_tokens import ServerTokens


@asynccontextmanager
async def listener(answer: Callable[[asyncio.StreamWriter], object]) -> AsyncIterator[str]:
    """A raw HTTP listener on 127.0.0.1 that reads a request and lets `answer` write."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n")
             if line.lower().startswith(b"content-length:")),
            0,
        )  # fmt: skip
        await reader.readexactly(length)
        try:
            result = answer(writer)
            if asyncio.iscoroutine(result):
                await result
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.close()


def _head(length: int, *extra: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {length}"]
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


async def test_an_answer_that_never_ends_is_given_up_at_the_deadline() -> None:
    async def drip(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(10**12) + b"[")
        while True:  # a byte now and then: no single read ever times out
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.2)

    async with listener(drip) as url, httpx.AsyncClient(timeout=10) as client:
        began = time.monotonic()
        with pytest.raises(ServerAnswerError, match="within 1.5 s"):
            await ask_server(client, "GET", url, headers={}, deadline=1.5)
        assert time.monotonic() - began < 4


async def test_an_answer_too_large_is_refused_once_past_the_bound() -> None:
    async def flood(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(10**12))
        for _ in range(1000):
            writer.write(b" " * 65536)
            await writer.drain()

    async with listener(flood) as url, httpx.AsyncClient(timeout=10) as client:
        with pytest.raises(ServerAnswerError, match="over 100000 bytes"):
            await ask_server(client, "GET", url, headers={}, limit=100_000)


async def test_a_packed_answer_is_refused_before_it_is_unpacked() -> None:
    bomb = gzip.compress(b"[" + b" " * 50_000_000 + b"]")

    def packed(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(len(bomb), "Content-Encoding: gzip") + bomb)

    async with listener(packed) as url, httpx.AsyncClient(timeout=10) as client:
        with pytest.raises(ServerAnswerError, match="encoded"):
            await ask_server(client, "GET", url, headers={})


async def test_a_plain_answer_comes_whole() -> None:
    body = json.dumps([{"id": "k1"}]).encode()

    def plain(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(len(body)) + body)

    async with listener(plain) as url, httpx.AsyncClient(timeout=10) as client:
        answer = await ask_server(client, "GET", url, headers={})
    assert answer.status_code == 200 and answer.json() == [{"id": "k1"}]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,  # nested beyond what json can read
        json.dumps([{"id": "k1", "connections": "many", "last_activity": "2026-01-01T00:00"}]),
        json.dumps([{"id": "k1", "connections": 1e300, "last_activity": "1" * 10_000}]),
    ],
)
async def test_a_hostile_kernel_list_leaves_the_census_standing(body: bytes | str) -> None:
    data = body.encode() if isinstance(body, str) else body

    def kernels(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(len(data)) + data)

    async with listener(kernels) as url:
        api = "http://127.0.0.1:1/hub/api"

        def hub(request: httpx.Request) -> httpx.Response:  # the hub's token for the server
            return httpx.Response(201, json={"token": "server-token"})

        tokens = ServerTokens(api, "service-token")
        async with httpx.AsyncClient(transport=httpx.MockTransport(hub)) as hub_client:
            await tokens.token(hub_client, "nina", "algebra")
        target = CensusTarget(api, url.rstrip("/"), "/", "service-token", tokens, "")
        async with httpx.AsyncClient(timeout=10) as client:
            found = await server_kernels(client, target, "nina", "algebra")
    # a list it cannot read is no answer; a kernel's odd fields are left out
    for kernel in found or ():
        assert kernel.connections == 0 and kernel.last_activity is None
