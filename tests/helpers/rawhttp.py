"""A client that streams a huge chunked body and stops as soon as the server answers,
like an attacker who wants the server to buffer as much as it will take."""

from __future__ import annotations

import json
import re
import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil

CHUNK = 256 * 1024


@dataclass
class Sent:
    status: int  # 0: the connection closed with no answer
    sent: int  # body bytes the server took before it answered (or closed)
    seconds: float
    head: str
    body: str


def _read_answer(sock: socket.socket, timeout: float) -> str:
    """The status line, headers and (up to 64 KiB of) the body of the answer."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            got = sock.recv(65536)
            if not got:
                break
            data += got
        head = data.split(b"\r\n\r\n")[0].decode("latin-1").lower()
        length = re.search(r"content-length: *(\d+)", head)
        want = min(int(length.group(1)), 65536) if length else 0
        while len(data.split(b"\r\n\r\n", 1)[-1]) < want:
            got = sock.recv(65536)
            if not got:
                break
            data += got
    except OSError:
        pass
    return data.decode("latin-1")


def chunked_post(
    url: str,
    path: str,
    headers: dict[str, str],
    total: int,
    first: bytes = b"",
    filler: bytes = b"a",
    timeout: float = 60,
) -> Sent:
    """POST `first` then `filler` repeated up to `total` bytes with Transfer-Encoding:
    chunked, watching for the answer between chunks."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Transfer-Encoding: chunked"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    started = time.monotonic()
    sent = 0
    block = filler * (CHUNK // len(filler))
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        pending = first
        while sent < total and time.monotonic() - started < timeout:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            chunk = pending or block
            pending = b""
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
        else:
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server closed on us: its answer, if any, is waiting
    answer = _read_answer(sock, timeout)
    sock.close()
    status = int(answer.split(" ", 2)[1]) if answer.startswith("HTTP/") else 0
    head, _, body = answer.partition("\r\n\r\n")
    return Sent(status, sent, time.monotonic() - started, head, body)


def service_process(data_dir: Path) -> psutil.Process:
    """The coursehub service of a running site: the process listening on its port."""
    port = json.loads((data_dir / "runtime" / "ports.json").read_text())["service"]
    for conn in psutil.net_connections(kind="tcp"):
        listening = conn.status == psutil.CONN_LISTEN and conn.laddr
        if listening and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    raise AssertionError(f"nothing listens on the service port {port}")


def memory(proc: psutil.Process, field: str = "VmHWM") -> int:
    """`field` of /proc/<pid>/status in bytes: VmRSS now, or VmHWM (its peak so far)."""
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for pid {proc.pid}")
