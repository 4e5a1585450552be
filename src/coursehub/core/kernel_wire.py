"""The kernel template's socket framing, shared by the template (root, run by path with a
course environment's Python) and the provisioner in a student's server.

Stdlib only and importing nothing of coursehub: the template loads this file by path.

- a 4-byte operation: ``FORK`` or ``STAT``;
- a request frame: 4-byte big-endian length, then JSON; descriptors ride on its
  first bytes by SCM_RIGHTS;
- an answer: one JSON object on one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from typing import Any

FORK = b"FORK"
STAT = b"STAT"
MAX_REQUEST = 4 << 20  # argv + env of a kernel: a few KiB; anything this big is refused
_LEN = struct.Struct("!I")


class RequestError(Exception):
    """The request is not one the template carries out (the client starts cold)."""


# --- framing (shared with the provisioner) ---------------------------------------------


def send_request(sock: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    body = json.dumps(request).encode()
    payload = _LEN.pack(len(body)) + body
    sent = socket.send_fds(sock, [payload[:4]], fds) if fds else sock.send(payload[:4])
    sock.sendall(payload[sent:])


def recv_request(sock: socket.socket) -> tuple[Any, list[int]]:
    """One length-prefixed JSON value and the descriptors sent with its first bytes."""
    head, fds, _flags, _addr = socket.recv_fds(sock, _LEN.size, 2)
    fds = list(fds)
    try:
        head += _recv_exactly(sock, _LEN.size - len(head))
        (size,) = _LEN.unpack(head)
        if size > MAX_REQUEST:
            raise RequestError(f"a request of {size} bytes is over the {MAX_REQUEST} limit")
        return json.loads(_recv_exactly(sock, size)), fds
    except BaseException:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise


def send_line(sock: socket.socket, data: dict[str, Any]) -> None:
    sock.sendall(json.dumps(data).encode() + b"\n")


def recv_line(sock: socket.socket, limit: int = 1 << 20) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise RequestError("the template closed the connection without an answer")
        data += chunk
        if len(data) > limit:
            raise RequestError("the template's answer is too long")
    answer = json.loads(data)
    if not isinstance(answer, dict):
        raise RequestError("the template's answer is not a JSON object")
    return answer


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = sock.recv(min(size, 65536))
        if not chunk:
            raise RequestError("the connection closed mid-request")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process that connected, as the kernel recorded it."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid
