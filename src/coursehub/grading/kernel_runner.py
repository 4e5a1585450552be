"""An IPython kernel inside the grading sandbox, driven from outside it.

The kernel runs as a throwaway sandbox account with no network, so it is reached over
Unix sockets in its work directory (ZeroMQ's ipc transport). The grader stays outside
the box: it sends each cell, collects outputs up to a bound, enforces per-cell and
total time. Tests never run in this kernel: at each test's place it leaves a copy of
itself on a socket it inherited (see harness.py), and the tests run elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import psutil
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from coursehub.grading.sandbox import SandboxAccount

MAX_OUTPUT_BYTES = 256 * 1024  # kept per grading run, for feedback and review


class KernelStartError(RuntimeError):
    """The kernel did not come up (the student's code never ran)."""


@dataclass
class CellRun:
    status: str  # ok | error | timeout | dead
    outputs: list[Any] = field(default_factory=list)
    error_name: str = ""
    seconds: float = 0.0


class SandboxKernel:
    """One kernel for one grading run. Use as a context manager."""

    def __init__(
        self,
        account: SandboxAccount,
        python: str = sys.executable,
        startup_timeout: float = 60.0,
        log_path: Path | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        self.account = account
        self.python = python
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.proc: Any = None
        self.kernel: psutil.Process | None = None  # the kernel itself, inside the box
        self.client: BlockingKernelClient | None = None
        self.pass_fds = pass_fds  # the same numbers in the kernel
        self.output_bytes = 0
        self.outputs_dropped = 0

    def __enter__(self) -> SandboxKernel:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        kdir = self.account.workdir / ".kernel"
        kdir.mkdir(mode=0o700, exist_ok=True)
        conn = kdir / "connection.json"
        write_connection_file(
            str(conn), transport="ipc", ip=str(kdir / "k"), key=secrets.token_hex(16).encode()
        )
        for path in (kdir, conn):
            os.chown(path, self.account.uid, self.account.gid)
        log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115
        env = {
            "IPYTHONDIR": "/tmp/.ipython",
            "MPLCONFIGDIR": "/tmp/.matplotlib",
            "JUPYTER_RUNTIME_DIR": "/tmp/.jupyter-runtime",
            "MPLBACKEND": "agg",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
        try:
            self.proc = self.account.popen(
                [self.python, "-P", "-m", "coursehub.grading.kernel_launch", "-f", str(conn)],
                env=env,
                stdout=log,
                stderr=log,
                pass_fds=self.pass_fds,
                close_fds=True,
            )
        finally:
            log.close()
        client = BlockingKernelClient()
        client.load_connection_file(str(conn))
        client.start_channels()
        self.client = client
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise KernelStartError(f"the kernel exited during start-up (status {code})")
            try:
                client.wait_for_ready(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
                self.kernel = self._find_kernel()
                return
            except RuntimeError as exc:
                if time.monotonic() > deadline:
                    raise KernelStartError("the kernel did not start in time") from exc

    def _find_kernel(self) -> psutil.Process | None:
        """The kernel process itself. `proc` is the sandbox's shim (root), whose child is
        the box's init, whose first child is the kernel; the copies it leaves are the
        kernel's children, and become init's when the kernel ends."""
        with contextlib.suppress(psutil.Error):
            for init in psutil.Process(self.proc.pid).children():
                programs = init.children()
                if programs:
                    return min(programs, key=lambda p: p.create_time())
            return psutil.Process(self.proc.pid)  # no box: the program is the process
        return None

    @property
    def alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            return False
        # the shim lives on while copies of the kernel remain: ask the kernel itself
        with contextlib.suppress(psutil.Error):
            return self.kernel is not None and self.kernel.status() != psutil.STATUS_ZOMBIE
        return False

    def execute(self, code: str, timeout: float) -> CellRun:
        """Run one cell; outputs are kept up to the run's output bound."""
        assert self.client is not None
        started = time.monotonic()
        if not self.alive:
            return CellRun("dead")
        msg_id = self.client.execute(code, allow_stdin=False, stop_on_error=False)
        run = CellRun("ok")
        deadline = started + timeout
        idle = replied = False
        interrupted_at: float | None = None
        while not (idle and replied):
            now = time.monotonic()
            if not self.alive:
                run.status = "dead"
                break
            if now > deadline and interrupted_at is None:
                run.status = "timeout"
                interrupted_at = now
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGINT)
            if interrupted_at is not None and now - interrupted_at > 5:
                self.kill()  # it ignored the interrupt: nothing after this cell can run
                run.status = "timeout"
                break
            if not idle:
                idle = self._drain_iopub(msg_id, run, 0.05)
            if not replied:
                replied = self._shell_reply(msg_id, run)
        run.seconds = time.monotonic() - started
        return run

    def _drain_iopub(self, msg_id: str, run: CellRun, wait: float) -> bool:
        assert self.client is not None
        try:
            msg = self.client.get_iopub_msg(timeout=wait)
        except queue.Empty:
            return False
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            return False
        kind = msg["msg_type"]
        content = msg["content"]
        if kind == "status":
            return content.get("execution_state") == "idle"
        if kind in ("stream", "display_data", "execute_result", "error"):
            if kind == "error" and run.status == "ok":
                run.status = "error"
                run.error_name = str(content.get("ename", ""))[:200]
            self._keep_output(run, msg)
        elif kind == "clear_output":
            run.outputs.clear()
        return False

    def _shell_reply(self, msg_id: str, run: CellRun) -> bool:
        assert self.client is not None
        try:
            reply = self.client.get_shell_msg(timeout=0.001)
        except queue.Empty:
            return False
        if reply.get("parent_header", {}).get("msg_id") != msg_id:
            return False
        if reply["content"].get("status") == "error" and run.status == "ok":
            run.status = "error"
            run.error_name = str(reply["content"].get("ename", ""))[:200]
        return True

    def _keep_output(self, run: CellRun, msg: dict[str, Any]) -> None:
        size = len(repr(msg["content"]))
        if self.output_bytes + size > MAX_OUTPUT_BYTES:
            self.outputs_dropped += 1
            return
        self.output_bytes += size
        try:
            run.outputs.append(nbformat.v4.output_from_msg(msg))
        except (ValueError, KeyError):
            self.outputs_dropped += 1

    def children(self) -> set[int]:
        """The kernel's child processes now."""
        with contextlib.suppress(psutil.Error):
            if self.kernel is not None:
                return {c.pid for c in self.kernel.children()}
        return set()

    def end_strays(self, keep: set[int]) -> int:
        """Kill every process of the account but the kernel and `keep`; how many."""
        # the shim and init (the box's PID 1: its end would end every copy) stay too
        keep = keep | {self.proc.pid} | {p.pid for p in self._ancestors()}
        ended = []
        for proc in psutil.process_iter(["uids"]):
            uids = proc.info["uids"]
            if uids and uids.real == self.account.uid and proc.pid not in keep:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
                    ended.append(proc)
        psutil.wait_procs(ended, timeout=2)  # the kernel's own children stay until reaped
        return len(ended)

    def _ancestors(self) -> list[psutil.Process]:
        """The kernel and its parents up to the shim."""
        found: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            if self.kernel is not None:
                found = [self.kernel, *self.kernel.parents()]
        return found

    def stop_main(self) -> None:
        """End the kernel process itself; the copies it left at tests' places stay
        (so neither the shim nor the box's init, whose end would end them, is touched)."""
        if self.alive and self.kernel is not None:
            with contextlib.suppress(psutil.Error):
                self.kernel.kill()
                self.kernel.wait(timeout=5)

    def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            # reap it first: an unreaped kernel stays in the process table as the account's
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=5)
        self.account.kill_all()

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.stop_channels()
        self.kill()
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=5)
