"""Kernels nobody connected to: asked for their info until the server has read an
answer (jupyter_server marks them "starting" until then), and their start times.
The integration test test_lab_plugin_browser.py shows it on a real server."""

from __future__ import annotations

from types import SimpleNamespace

from coursehub.student.lab.kernels import KERNEL_SCHEMA, KernelClock, settle


class Shell:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeKernels:
    """A kernel that the server marks idle once it has been asked `answers_after` times."""

    def __init__(self, state: str | None, answers_after: int) -> None:
        self.asked: list[str] = []
        self.shells: list[Shell] = []
        self.kernel = SimpleNamespace(
            execution_state=state, session=SimpleNamespace(send=self._send)
        )
        self.kernel.connect_shell = self._connect
        self.answers_after = answers_after

    def _connect(self) -> Shell:
        self.shells.append(Shell())
        return self.shells[-1]

    def _send(self, stream: Shell, msg_type: str) -> None:
        self.asked.append(msg_type)
        if len(self.asked) >= self.answers_after:
            self.kernel.execution_state = "idle"

    def get_kernel(self, kernel_id: str) -> SimpleNamespace:
        if kernel_id != "k1":
            raise KeyError(kernel_id)
        return self.kernel


async def test_a_kernel_marked_starting_is_asked_until_the_server_reads_an_answer() -> None:
    kernels = FakeKernels("starting", answers_after=2)
    assert await settle(kernels, "k1", every=0.01, limit=5) is True
    assert kernels.asked == ["kernel_info_request"] * 2
    assert all(shell.closed for shell in kernels.shells)


async def test_a_settled_or_gone_kernel_is_left_alone() -> None:
    idle = FakeKernels("busy", answers_after=1)
    assert await settle(idle, "k1", every=0.01, limit=1) is True and idle.asked == []
    assert await settle(idle, "gone", every=0.01, limit=1) is False
    never = FakeKernels("starting", answers_after=10**6)
    assert await settle(never, "k1", every=0.01, limit=0.1) is False


async def test_start_times_follow_the_servers_kernel_events() -> None:
    clock = KernelClock(FakeKernels("idle", answers_after=1))
    await clock.on_kernel(
        None, KERNEL_SCHEMA, {"kernel_id": "k1", "action": "start", "status": "success"}
    )
    await clock.on_kernel(
        None, KERNEL_SCHEMA, {"kernel_id": "k2", "action": "start", "status": "error"}
    )
    assert set(clock.started) == {"k1"}
    await clock.on_kernel(
        None, KERNEL_SCHEMA, {"kernel_id": "k1", "action": "shutdown", "status": "success"}
    )
    assert clock.started == {}
