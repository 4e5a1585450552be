"""When each kernel of a course server started, and kernels that never leave "starting".

jupyter_server marks a new kernel "starting" and changes that only on a status message
it reads on the kernel's IOPub channel. The kernel's own start-up status is sent before
the server's subscription is connected (ZeroMQ drops messages to a subscriber that has
not joined yet), so the mark changes only when a client asks the kernel something:
JupyterLab does at once when it connects, but a kernel whose page was closed, or whose
connection never came, stayed "starting" in the kernels API, and on the staff servers
page, until someone ran a cell. `settle` asks such a kernel for its info (as
JupyterLab's connection does) until the server has read an answer. Those requests are
among jupyter_server's untracked message types: they never count as activity, so the
idle culler sees the kernel exactly as before.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("coursehub.student.lab")

KERNEL_SCHEMA = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"
SETTLE_EVERY = 1.0  # seconds between two questions to a kernel still marked "starting"
SETTLE_FOR = 120.0  # a kernel this slow to answer is left as it is


class KernelClock:
    """Start times of this server's kernels (a restart is a new start), and the task
    that settles each new kernel's state."""

    def __init__(self, kernel_manager: Any) -> None:
        self.kernel_manager = kernel_manager
        self.started: dict[str, datetime] = {}
        self._tasks: set[asyncio.Task[bool]] = set()

    async def on_kernel(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        kernel_id = data.get("kernel_id")
        if not isinstance(kernel_id, str) or data.get("status") != "success":
            return
        action = data.get("action")
        if action in ("start", "restart"):
            self.started[kernel_id] = datetime.now(UTC)
            task = asyncio.get_running_loop().create_task(settle(self.kernel_manager, kernel_id))
            self._tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._tasks.discard)
        elif action == "shutdown":
            self.started.pop(kernel_id, None)


def _state(kernel_manager: Any, kernel_id: str) -> str | None:
    """The kernel's execution state as the server reports it; "gone" once it is not
    the server's any more."""
    try:
        kernel = kernel_manager.get_kernel(kernel_id)
    except KeyError:
        return "gone"
    return getattr(kernel, "execution_state", None)


async def settle(
    kernel_manager: Any, kernel_id: str, every: float = SETTLE_EVERY, limit: float = SETTLE_FOR
) -> bool:
    """Ask the kernel for its info until the server no longer marks it "starting"
    (or unmarked: the server has not finished starting it). True once settled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        await asyncio.sleep(every)
        state = _state(kernel_manager, kernel_id)
        if state == "gone":
            return False
        if state not in (None, "starting"):
            return True
        if state is None:
            continue  # the server is still starting it: nothing to ask yet
        try:
            kernel = kernel_manager.get_kernel(kernel_id)
            shell = kernel.connect_shell()
        except Exception as exc:  # stopped between the two looks
            log.debug("kernel %s: cannot ask for its info: %s", kernel_id, exc)
            return False
        try:
            kernel.session.send(shell, "kernel_info_request")
            await asyncio.sleep(every)
        finally:
            shell.close()
    log.info(
        "kernel %s still marked %r after %ss", kernel_id, _state(kernel_manager, kernel_id), limit
    )
    return False
