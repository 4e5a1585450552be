"""`coursehub doctor`'s check of the server template (forked student servers)."""

from __future__ import annotations

import sys

from ..config.layout import DataLayout
from ..config.models import CoursehubConfig
from ..zygote.manager import ServerTemplate
from .doctor import Check

NAME = "server template"


def server_template_check(config: CoursehubConfig, layout: DataLayout) -> Check:
    """How student servers start, and, with the hub up, whether the template answers."""
    if config.servers.start == "cold":
        return Check(NAME, "info", "servers start cold (servers.start: cold)")
    log = layout.logs / "server-template.log"
    if not layout.up_pid_file.exists():
        return Check(NAME, "info", "the template starts with the hub (`coursehub up`)")
    status = ServerTemplate(sys.executable, layout.server_template_socket, log).status()
    if status is None:
        return Check(
            NAME,
            "warn",
            f"the template does not answer on {layout.server_template_socket}: servers "
            "start cold until the hub restarts it (at the next server start)",
            f"read {log}; `coursehub restart` starts a new one",
        )
    if status.get("threads"):
        return Check(
            NAME,
            "fail",
            f"the template runs {status['threads']} thread(s), so it refuses to fork: "
            "servers start cold",
            f"an extension starts a thread when imported: read {log}",
        )
    detail = (
        f"pid {status['pid']}, {status['modules']} modules preloaded, "
        f"{status['forks']} servers forked, {status['children']} running"
    )
    failed = status.get("failed") or {}
    if failed:
        return Check(
            NAME,
            "warn",
            f"{detail}; not preloaded (their servers import them at start): "
            + ", ".join(sorted(failed)),
            f"read {log}",
        )
    return Check(NAME, "ok", detail)
