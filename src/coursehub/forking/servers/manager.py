"""The hub side of forked servers: start the template, check it, replace it when the
server stack changes, and ask it for a fork.

Every failure here raises TemplateUnavailable, and the spawner then starts that
server cold: a template that is starting, restarting or broken costs speed, never a
student's server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coursehub.forking.protocol import FORK, STAT, ProtocolError, recv_frame, send_frame

REQUEST_TIMEOUT = 10.0  # a fork answers in milliseconds; this is for a wedged template
RESTART_BACKOFF = 10.0  # at most one restart of a crashed template this often
FINGERPRINT_EVERY = 5.0  # how often a fork re-checks the server stack on disk
CLEAN_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")


class TemplateUnavailable(Exception):
    """No fork this time (the message says why); start the server cold."""


def server_stack_fingerprint() -> str:
    """Changes whenever packages are installed, upgraded or removed in the server's
    environment, or coursehub's own files change."""
    parts = []
    for key in ("purelib", "platlib"):
        with contextlib.suppress(OSError):
            parts.append(str(os.stat(sysconfig.get_paths()[key]).st_mtime_ns))
    package = Path(__file__).resolve().parents[2]
    newest = 0
    for path in package.rglob("*.py"):
        with contextlib.suppress(OSError):
            newest = max(newest, path.stat().st_mtime_ns)
    parts.append(str(newest))
    return "-".join(parts)


class ServerTemplate:
    """One template process and its socket."""

    def __init__(self, python: str, socket_path: Path, log_path: Path):
        self.python = python
        self.socket_path = Path(socket_path)
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen[bytes] | None = None
        self.fingerprint = ""
        self._checked_at = 0.0
        self._started_at = 0.0
        self._lock = threading.Lock()

    # --- life cycle ----------------------------------------------------------------

    def start(self) -> None:
        """Start the template unless it runs with the current server stack."""
        with self._lock:
            self._ensure(time.monotonic())

    def stop(self) -> None:
        """Stop the template; the servers it forked keep running."""
        with self._lock:
            self._terminate()

    def _ensure(self, now: float) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if now - self._checked_at < FINGERPRINT_EVERY:
                return
            self._checked_at = now
            current = server_stack_fingerprint()
            if current == self.fingerprint:
                return
            self._log("the server environment changed: replacing the template")
            self._terminate()
        elif self.proc is not None:
            code = self.proc.returncode
            if now - self._started_at < RESTART_BACKOFF:
                raise TemplateUnavailable(f"the template exited (code {code}); restarting soon")
            self._log(f"the template exited (code {code}): restarting it")
            self.proc = None
        self._spawn(now)

    def _spawn(self, now: float) -> None:
        self.fingerprint = server_stack_fingerprint()
        self._checked_at = self._started_at = now
        self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        log = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 - handed to the child
        try:
            os.chmod(self.log_path, 0o600)
            # A clean environment: the hub's tokens must never be in the template's
            # memory, which every student server starts as a copy of.
            env = {k: os.environ[k] for k in CLEAN_ENV_KEYS if k in os.environ}
            env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
            # As every server starts: no user site, no working directory on sys.path
            # (its children keep the sys.path it starts with; student/lockdown.py).
            env.update(PYTHONNOUSERSITE="1", PYTHONSAFEPATH="1")
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
            self.proc = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "coursehub.forking.servers.template",
                    f"--socket={self.socket_path}",
                    f"--fingerprint={self.fingerprint}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd="/",
                start_new_session=True,  # Ctrl-C of `coursehub up` is for the hub
                close_fds=True,
            )
        finally:
            log.close()

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def _log(self, message: str) -> None:
        with contextlib.suppress(OSError), open(self.log_path, "a") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    # --- requests --------------------------------------------------------------------

    def fork(
        self,
        request: dict[str, Any],
        log_fd: int,
        wait: float = 10.0,
        place: Callable[[int], None] | None = None,
    ) -> int:
        """Fork a server for `request`; its pid. Blocking: call it from a thread.

        Waits up to `wait` seconds for a template that is still importing. `place(pid)`
        runs once the child exists and before it is told anything (so before it drops
        to the student): e.g. to put it into a systemd scope.
        """
        with self._lock:
            self._ensure(time.monotonic())
            proc = self.proc
        deadline = time.monotonic() + wait
        while not self.socket_path.exists():
            if proc is None or proc.poll() is not None:
                raise TemplateUnavailable("the template exited while starting")
            if time.monotonic() > deadline:
                raise TemplateUnavailable(f"the template was not ready within {wait:.0f} s")
            time.sleep(0.05)
        try:
            with self._connect(FORK) as sock:
                answer, _ = recv_frame(sock)
                if "pid" not in answer:
                    raise TemplateUnavailable(answer.get("error", "the template refused"))
                pid = int(answer["pid"])
                if place is not None:
                    try:
                        place(pid)
                    except Exception as exc:  # the child exits when we hang up
                        raise TemplateUnavailable(f"placing the server failed: {exc}") from exc
                send_frame(sock, request, fds=[log_fd])
                done, _ = recv_frame(sock)
        except (OSError, ProtocolError, ValueError) as exc:
            raise TemplateUnavailable(f"talking to the template failed: {exc}") from exc
        if not done.get("ok"):
            raise TemplateUnavailable(f"the forked server could not start: {done.get('error')}")
        return pid

    def status(self) -> dict[str, Any] | None:
        """The template's own report, or None when it does not answer."""
        try:
            with self._connect(STAT, timeout=2.0) as sock:
                answer, _ = recv_frame(sock)
        except (OSError, ProtocolError, ValueError):
            return None
        return answer

    def exit_code(self, pid: int) -> int | None:
        """A forked server's exit code, if the template saw it exit."""
        status = self.status() or {}
        code = status.get("exited", {}).get(str(pid))
        return int(code) if code is not None else None

    def _connect(self, op: bytes, timeout: float = REQUEST_TIMEOUT) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(str(self.socket_path))
            sock.sendall(op)
        except BaseException:
            sock.close()
            raise
        return sock


_templates: dict[Path, ServerTemplate] = {}
_templates_lock = threading.Lock()


def server_template(
    socket_path: Path, python: str = sys.executable, log_path: Path | None = None
) -> ServerTemplate:
    """The hub's one template for this socket (made on first use)."""
    key = Path(socket_path)
    with _templates_lock:
        template = _templates.get(key)
        if template is None:
            log = log_path or key.with_suffix(".log")
            template = _templates[key] = ServerTemplate(python, key, log)
        return template
