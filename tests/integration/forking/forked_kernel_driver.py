"""A stand-in for a student's server in the forked-kernel tests: run as the student
with coursehub's Python, it manages kernels through jupyter_client exactly as
jupyter_server does (KernelManager, the kernelspec's provisioner) and answers JSON
commands, one per line on stdin, with one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from typing import Any

from jupyter_client.manager import KernelManager

from coursehub.core import kernel_wire as kt
from coursehub.student.kernel_provisioner import ForkUnavailable, fork_kernel

kernels: dict[str, tuple[KernelManager, Any]] = {}


def start(name: str, kernel: str, cwd: str) -> dict[str, Any]:
    km = KernelManager(kernel_name=kernel)
    km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    kernels[name] = (km, kc)
    return describe(name)


def describe(name: str) -> dict[str, Any]:
    km, _kc = kernels[name]
    provisioner = km.provisioner
    return {
        "pid": provisioner.pid,
        "forked": getattr(provisioner, "forked_pid", None) is not None,
        "provisioner": type(provisioner).__name__,
    }


def run(name: str, code: str, timeout: float = 60) -> dict[str, Any]:
    _km, kc = kernels[name]
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    content = reply["content"]
    return {"status": content["status"], "ename": content.get("ename"), "stdout": "".join(out)}


def interrupt(name: str) -> dict[str, Any]:
    """Start an endless cell, interrupt it once it runs, return its reply."""
    km, kc = kernels[name]
    msg_id = kc.execute("import time\nwhile True: time.sleep(0.05)")
    deadline = time.monotonic() + 60
    busy = False
    while not busy and time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=60)
        busy = (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "busy"
        )
    time.sleep(0.2)  # into the loop proper
    km.interrupt_kernel()
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return {"status": reply["content"]["status"], "ename": reply["content"].get("ename")}


def restart(name: str) -> dict[str, Any]:
    km, kc = kernels[name]
    km.restart_kernel(now=True)
    kc.wait_for_ready(timeout=60)
    return describe(name)


def shutdown(name: str) -> dict[str, Any]:
    km, kc = kernels.pop(name)
    pid = km.provisioner.pid if km.provisioner else None
    kc.stop_channels()
    km.shutdown_kernel()
    return {"pid": pid}


def raw(path: str, data: str, fds: int = 0) -> dict[str, Any]:
    """Send bytes (latin-1 in `data`) to the template and return what comes back."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(15)
        sock.connect(path)
        payload = data.encode("latin-1")
        if fds:
            socket.send_fds(sock, [payload], [1] * fds)
        else:
            sock.sendall(payload)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except TimeoutError:
            return {"timeout": True, "answer": got.decode(errors="replace")}
        except ConnectionResetError:  # closed with bytes of ours unread
            return {"reset": True, "answer": got.decode(errors="replace")}
    return {"answer": got.decode(errors="replace")}


def fork(path: str, argv: list[str]) -> dict[str, Any]:
    try:
        pid = fork_kernel(path, argv, dict(os.environ), os.getcwd(), [2, 2])
    except ForkUnavailable as exc:
        return {"error": str(exc)}
    return {"pid": pid}


def status(path: str) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(kt.STAT)
        return kt.recv_line(sock)


COMMANDS = {
    "start": start,
    "run": run,
    "interrupt": interrupt,
    "restart": restart,
    "shutdown": shutdown,
    "raw": raw,
    "fork": fork,
    "status": status,
    "describe": describe,
}


def main() -> None:
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        try:
            answer = COMMANDS[command.pop("op")](**command)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            answer = {"exception": f"{type(exc).__name__}: {exc}", "tb": traceback.format_exc()}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
