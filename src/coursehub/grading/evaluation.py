"""The grader's side of running the tests: one test process (evaluator.py) in a box of
its own account, fed one job per test with the socket of that test's notebook copy."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from coursehub.core import grading_wire as wire
from coursehub.grading.sandbox import SandboxAccount


class Evaluator:
    """Runs jobs in order; a job past its time is failed and the process replaced."""

    def __init__(
        self,
        account: SandboxAccount,
        python: str = sys.executable,
        preload: Sequence[str] = (),
    ) -> None:
        self.account = account
        self.python = python
        self.preload = [p for p in preload if p == "otter"]  # what to import before a job
        self.proc: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        theirs.set_inheritable(True)
        log = self.account.workdir.with_name(self.account.workdir.name + ".log")
        with open(log, "ab") as out:
            self.proc = self.account.popen(
                [
                    self.python, "-I", "-m", "coursehub.grading.evaluator",
                    str(theirs.fileno()), *self.preload,
                ],  # fmt: skip
                env={"MPLBACKEND": "agg", "PYTHONDONTWRITEBYTECODE": "1"},
                stdout=out,
                stderr=out,
                pass_fds=(theirs.fileno(),),
                close_fds=True,
            )
        theirs.close()
        self.control = ours

    def run(self, job: dict[str, Any], notebook: socket.socket, timeout: float) -> dict[str, Any]:
        """The test's record, or one saying why there is none."""
        if self.control is None:
            self.start()
        assert self.control is not None
        try:
            self.control.settimeout(max(0.1, timeout))
            socket.send_fds(self.control, [b"j"], [notebook.fileno()])
            wire.send(self.control, job)
            record = wire.receive(self.control)
        except TimeoutError:
            self.stop()
            return {"ok": False, "error": "Timeout", "seconds": timeout}
        except (OSError, ValueError) as exc:
            self.stop()
            why = f"the test process failed: {exc}"
            return {"ok": False, "error": "TestProcess", "message": why}
        if record is None:
            self.stop()
            return {"ok": False, "error": "TestProcess", "message": "the test process ended"}
        return record

    def stop(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=5)
            self.proc = None
        self.account.kill_all()

