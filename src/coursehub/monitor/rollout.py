"""Environment roll-out: which running servers started before the course's environment
was last rebuilt, and which of those can be restarted without interrupting anyone.

A build writes a new stamp into the new environment (courses/environment.py), so the
stamp's time is when the current environment appeared. A server started before it
keeps the environment its kernels were started from until it restarts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from coursehub.courses.environment import STAMP_NAME
from coursehub.monitor.census import ServerState


def environment_built_at(env_dir: Path) -> datetime | None:
    """When the course's current environment was built (None: never built)."""
    try:
        return datetime.fromtimestamp((Path(env_dir) / STAMP_NAME).stat().st_mtime, UTC)
    except OSError:
        return None


def older_environment(server: ServerState, built_at: datetime | None) -> bool:
    """Whether the server started before the current environment was built."""
    return built_at is not None and server.started is not None and server.started < built_at


def restartable(server: ServerState, built_at: datetime | None) -> bool:
    """Whether "Restart idle ones" may stop this server: it has the older environment,
    is ready, answered for its kernels, and none of them is doing anything (busy or
    starting kernels mean a student is working: leave them be)."""
    if not (older_environment(server, built_at) and server.ready and server.kernels is not None):
        return False
    return all(k.execution_state == "idle" for k in server.kernels)


def to_restart(servers: list[ServerState], built_at: datetime | None) -> list[ServerState]:
    return [s for s in servers if restartable(s, built_at)]
