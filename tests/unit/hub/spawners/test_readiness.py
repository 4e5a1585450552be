"""The spawner's wait for a started server: it knocks (a TCP connection) and sends
nothing, so the one HTTP request of a start is JupyterHub's own readiness check."""

from __future__ import annotations

import asyncio
import socket

from coursehub.hub.spawners.local import _listens


async def test_a_listening_server_is_knocked_on_not_asked() -> None:
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(100))  # b"" once the knock closes
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        assert await _listens("127.0.0.1", port)
        while not received:
            await asyncio.sleep(0.01)
    assert received == [b""]


async def test_nothing_listening() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        assert not await _listens("127.0.0.1", port)
