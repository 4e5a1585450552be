"""The template's socket protocol: a 4-byte operation, then framed JSON.

FORK: the template forks at once and the *child* answers `{"pid": N}`; the client
then sends the request (length-prefixed JSON, the server's log file as an SCM_RIGHTS
descriptor) and the child answers `{"ok": true}` or `{"error": "..."}`. The template
itself never reads a request, so no student's token ever sits in its memory.
STAT: the template answers its health as one frame (no secrets in it).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from typing import Any

FORK = b"FORK"
STAT = b"STAT"
OPS = (FORK, STAT)
MAX_FRAME = 1 << 20  # a request is a few KiB: anything this big is refused
_LEN = struct.Struct("!I")


class ProtocolError(Exception):
    """The other side sent something that is not this protocol."""


def send_frame(sock: socket.socket, data: dict[str, Any], fds: list[int] | None = None) -> None:
    body = json.dumps(data).encode()
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes is over the {MAX_FRAME} limit")
    payload = _LEN.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(sock, [payload], fds)
        if sent < len(payload):
            sock.sendall(payload[sent:])
    else:
        sock.sendall(payload)


def recv_frame(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    """One frame and the descriptors that came with it (the caller closes them)."""
    fds: list[int] = []
    if max_fds:
        head, got, _flags, _addr = socket.recv_fds(sock, _LEN.size, max_fds)
        fds = list(got)
    else:
        head = sock.recv(_LEN.size)
    try:
        head += _recv_exactly(sock, _LEN.size - len(head))
        (size,) = _LEN.unpack(head)
        if size > MAX_FRAME:
            raise ProtocolError(f"frame of {size} bytes is over the {MAX_FRAME} limit")
        data = json.loads(_recv_exactly(sock, size))
        if not isinstance(data, dict):
            raise ProtocolError("a frame must hold a JSON object")
    except BaseException:
        for fd in fds:
            _close(fd)
        raise
    return data, fds


def recv_op(sock: socket.socket) -> bytes:
    op = _recv_exactly(sock, 4)
    if op not in OPS:
        raise ProtocolError(f"unknown operation {op!r}")
    return op


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = sock.recv(min(size, 65536))
        if not chunk:
            raise ProtocolError("the other side closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _close(fd: int) -> None:
    import os

    with contextlib.suppress(OSError):
        os.close(fd)
