"""The template process: `python -m coursehub.forking.servers.template --socket PATH`.

Started by the hub (as root, with a clean environment) for one server environment.
It imports the single-user server stack, freezes what it imported, and then serves
its socket in a plain blocking loop — no thread, no event loop, no secret — so that a
fork is a faithful copy of a freshly started interpreter that has done its imports.
It reaps its children, answers health questions, and exits when the hub is gone
(its servers live on: each is a session of its own).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from coursehub.forking.protocol import FORK, STAT, ProtocolError, recv_op, send_frame

KEEP_EXIT_CODES = 500
CLIENT_TIMEOUT = 5.0


class Template:
    def __init__(self, path: Path, fingerprint: str, modules: list[str], failed: dict[str, str]):
        self.path = path
        self.fingerprint = fingerprint
        self.modules = modules
        self.failed = failed
        self.started = time.time()
        self.forks = 0
        self.children: dict[int, float] = {}
        self.exited: OrderedDict[int, int] = OrderedDict()
        self.stopping = False
        self.parent = os.getppid()
        self.sock = _listen(path)
        self.inode = path.stat().st_ino  # ours; a successor may bind the same path
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ)

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        print(f"template ready: {len(self.modules)} modules preloaded", flush=True)
        try:
            while not self.stopping:
                ready = self.selector.select(timeout=1.0)
                self._reap()
                if os.getppid() != self.parent:
                    print("the hub is gone: template exits", flush=True)
                    break
                if ready:
                    self._accept()
        finally:
            self.selector.close()
            self.sock.close()
            # A new hub may already have a new template on this path: leave its socket.
            with contextlib.suppress(OSError):
                if self.path.stat().st_ino == self.inode:
                    self.path.unlink()

    def _stop(self, _sig: int, _frame: Any) -> None:
        self.stopping = True

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        try:
            conn.settimeout(CLIENT_TIMEOUT)
            # Only the account that started the template (the hub's) may ask it anything.
            _pid, uid, _gid = struct.unpack(
                "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            )
            if uid != os.geteuid():
                return
            op = recv_op(conn)
            if op == STAT:
                send_frame(conn, self.status())
            elif op == FORK:
                self._fork(conn)
        except (OSError, ProtocolError) as exc:
            print(f"client error: {exc}", flush=True)
        finally:
            conn.close()

    def _fork(self, conn: socket.socket) -> None:
        threads = _threads()
        if threads:  # a fork now would copy some thread's half-done work
            send_frame(conn, {"error": f"the template runs {threads} thread(s); not forking"})
            return
        pid = os.fork()
        if pid == 0:
            from coursehub.forking.servers.child import run

            run(conn, [self.selector, self.sock])  # never returns
        self.forks += 1
        self.children[pid] = time.time()

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.pop(pid, None)
            self.exited[pid] = os.waitstatus_to_exitcode(status)
            while len(self.exited) > KEEP_EXIT_CODES:
                self.exited.popitem(last=False)

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "fingerprint": self.fingerprint,
            "python": sys.executable,
            "started": self.started,
            "forks": self.forks,
            "children": len(self.children),
            "threads": _threads(),
            "modules": len(self.modules),
            "failed": self.failed,
            "exited": {str(pid): code for pid, code in self.exited.items()},
        }


def _threads() -> int:
    from coursehub.forking.servers.preload import threads_running

    return threads_running()


def _listen(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket is the hub's alone: 0600
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(128)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursehub.forking.servers.template")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--fingerprint", default="")
    parser.add_argument(
        "--config-dir", action="append", type=Path, default=[], help="Jupyter config dirs"
    )
    args = parser.parse_args(argv)
    from coursehub.forking.servers.preload import (
        CORE_MODULES,
        enabled_extensions,
        preload,
        service_handlers,
    )
    from coursehub.student.jupyter_config import NBGRADER_SERVER_EXTENSIONS

    # Where the servers' Jupyter finds the installed extensions' switches.
    config_dirs = args.config_dir or [
        Path(sys.prefix) / "etc" / "jupyter",
        Path("/usr/local/etc/jupyter"),
        Path("/etc/jupyter"),
    ]
    extra = [
        name for name in enabled_extensions(config_dirs) if name not in NBGRADER_SERVER_EXTENSIONS
    ]
    try:
        from setproctitle import getproctitle, setproctitle

        # Claim the title space now: a child, once its environment is replaced,
        # could no longer find it to show itself as a server.
        setproctitle(getproctitle())
    except ImportError:
        pass
    modules, failed = preload([*CORE_MODULES, *service_handlers(), *extra])
    for name, reason in failed.items():
        print(f"not preloaded: {name}: {reason}", flush=True)
    # Bind last: a client that can connect finds a template ready to fork.
    Template(args.socket, args.fingerprint, modules, failed).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
