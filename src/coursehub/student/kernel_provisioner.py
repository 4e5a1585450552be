"""`coursehub-forked`: a jupyter_client kernel provisioner that asks the course's
kernel template (coursehub.forking.kernels.template) to fork the kernel, and launches
it the normal way whenever that is not possible.

It runs inside the student's server, as the student. The kernelspec names the
template's socket::

    "metadata": {"kernel_provisioner": {"provisioner_name": "coursehub-forked",
                                        "config": {"socket": "/…/kernel-templates/c.sock"}}}

A forked kernel is the template's child, not ours: it is watched through a pidfd
(exit), signalled through its process group (it is a session leader, like a cold
kernel), and its exit code is read from its zombie's /proc/<pid>/stat or, once the
template has reaped it, asked of the template.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import socket
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from traitlets import Float, Unicode

from coursehub.core import kernel_wire as kt

UNKNOWN_EXIT = 1  # a dead kernel whose exit code nobody knows any more


class ForkUnavailable(Exception):
    """No forked kernel this time (the message says why): start it cold."""


def fork_kernel(
    socket_path: str,
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    fds: list[int],
    timeout: float = 5.0,
) -> int:
    """Ask the template at `socket_path` to fork a kernel; its pid. Blocking."""
    if not socket_path:
        raise ForkUnavailable("no kernel template is configured")
    request = {"argv": argv, "env": env, "cwd": cwd}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            try:
                sock.sendall(kt.FORK)
                kt.send_request(sock, request, fds)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a refusal is sent before the request is read: it is waiting
            answer = kt.recv_line(sock)
    except FileNotFoundError:
        raise ForkUnavailable(f"no kernel template at {socket_path}") from None
    except (OSError, ValueError, kt.RequestError) as exc:
        raise ForkUnavailable(f"the kernel template did not answer: {exc}") from None
    if "pid" not in answer:
        raise ForkUnavailable(str(answer.get("error", "the kernel template refused")))
    return int(answer["pid"])


def template_status(socket_path: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The template's STAT answer, or None when nothing answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(kt.STAT)
            return kt.recv_line(sock)
    except (OSError, ValueError, kt.RequestError):
        return None


def zombie_exit_code(pid: int) -> int | None:
    """The exit code of a dead, not yet reaped process (None: alive or gone)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            text = file.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] not in ("Z", "X"):
        return None
    # field 52 (exit_code, Linux 3.5+) in waitpid's format; fields here start at 3
    with contextlib.suppress(IndexError, ValueError):
        return os.waitstatus_to_exitcode(int(fields[49]))
    return UNKNOWN_EXIT


class ForkedKernelProvisioner(LocalProvisioner):
    """LocalProvisioner whose launch asks the course's kernel template first."""

    socket = Unicode("", config=True, help="The kernel template's Unix socket.")
    fork_timeout = Float(5.0, config=True, help="Seconds to wait for the template.")

    forked_pid: int | None = None
    _pidfd: int | None = None
    _exit: int | None = None

    @property
    def has_process(self) -> bool:
        return self.forked_pid is not None or super().has_process

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        self._forget()
        try:
            pid = await asyncio.to_thread(self._fork, cmd, kwargs)
        except ForkUnavailable as exc:
            self.log.info("Kernel %s starts cold: %s", self.kernel_id, exc)
            return await super().launch_kernel(cmd, **kwargs)
        self.forked_pid = self.pid = self.pgid = pid  # a session leader, like a cold kernel
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._exit = UNKNOWN_EXIT  # died at once; poll() says so
        self.cwd = kwargs.get("cwd") or os.getcwd()
        self.log.info(
            "Kernel %s forked from the course's kernel template: pid %d", self.kernel_id, pid
        )
        return self.connection_info

    def _fork(self, cmd: list[str], kwargs: dict[str, Any]) -> int:
        if os.environ.get("COURSEHUB_KERNELS") == "cold":
            # set by the Slurm job starter: a template's kernel would run outside the job
            raise ForkUnavailable("kernels start cold here (COURSEHUB_KERNELS=cold)")
        given_env = kwargs.get("env")
        env = dict(given_env if given_env is not None else os.environ)
        if not kwargs.get("independent"):
            env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launcher does
        argv = [os.path.expanduser(part) for part in cmd]
        cwd = os.path.abspath(kwargs.get("cwd") or os.getcwd())
        opened: list[int] = []
        try:
            fds = [
                self._stream_fd(kwargs.get(name), default, opened)
                for name, default in (("stdout", 1), ("stderr", 2))
            ]
            return fork_kernel(self.socket, argv, env, cwd, fds, self.fork_timeout)
        finally:
            for fd in opened:
                os.close(fd)

    @staticmethod
    def _stream_fd(value: Any, default: int, opened: list[int]) -> int:
        """The descriptor Popen would give the kernel for this stream."""
        import subprocess

        if value is None:
            return default
        if value == subprocess.DEVNULL:
            fd = os.open(os.devnull, os.O_WRONLY)
            opened.append(fd)
            return fd
        if isinstance(value, int) and value >= 0:
            return value
        if hasattr(value, "fileno"):
            return int(value.fileno())
        raise ForkUnavailable(f"a kernel stream of {value!r} needs a cold start")

    # --- a process that is not our child ------------------------------------------------

    def _dead(self) -> bool:
        if self._exit is not None:
            return True
        if self._pidfd is not None:
            readable, _, _ = select.select([self._pidfd], [], [], 0)
            if not readable:
                return False
        elif (
            self.forked_pid is not None
            and os.path.exists(f"/proc/{self.forked_pid}")
            and zombie_exit_code(self.forked_pid) is None
        ):
            return False  # no pidfd (reloaded after a restart): /proc says it is alive
        self._exit = self._exit_code()
        return True

    def _exit_code(self) -> int:
        assert self.forked_pid is not None
        code = zombie_exit_code(self.forked_pid)
        if code is not None:
            return code
        status = template_status(self.socket, timeout=0.5) or {}
        known = status.get("exited", {}).get(str(self.forked_pid))
        return int(known) if known is not None else UNKNOWN_EXIT

    async def poll(self) -> int | None:
        if self.forked_pid is None:
            return await super().poll()
        return self._exit if self._dead() else None

    async def wait(self) -> int | None:
        if self.forked_pid is None:
            return await super().wait()
        while await self.poll() is None:
            await asyncio.sleep(0.1)
        code = self._exit
        self._forget()  # has_process is False from now on, as after Popen.wait()
        return code

    async def send_signal(self, signum: int) -> None:
        if self.forked_pid is None:
            return await super().send_signal(signum)
        if self._dead():
            return None
        try:
            os.killpg(self.forked_pid, signum)  # the kernel and what it started
        except OSError:
            if self._pidfd is not None:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(self._pidfd, signum)
        return None

    async def kill(self, restart: bool = False) -> None:
        if self.forked_pid is None:
            return await super().kill(restart)
        return await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        if self.forked_pid is None:
            return await super().terminate(restart)
        return await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        if self.forked_pid is not None and self._dead():
            self._forget()
        await super().cleanup(restart)

    def _forget(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
        self._pidfd = None
        self.forked_pid = None
        self._exit = None

    async def get_provisioner_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await super().get_provisioner_info()
        info["forked"] = self.forked_pid is not None
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        await super().load_provisioner_info(provisioner_info)
        if provisioner_info.get("forked") and self.pid:
            self.forked_pid = self.pid
            with contextlib.suppress(OSError):
                self._pidfd = os.pidfd_open(self.pid)
