"""`coursehub doctor`'s checks of the templates that forked servers and kernels come from."""

from __future__ import annotations

import sys

from coursehub.config.layout import DataLayout
from coursehub.config.models import CoursehubConfig
from coursehub.config.translate.jupyterhub import forks_here
from coursehub.courses.kernels import template_socket
from coursehub.forking.kernels.manager import built_courses
from coursehub.forking.servers.manager import ServerTemplate
from coursehub.ops.doctor import Check
from coursehub.student.kernel_provisioner import template_status

NAME = "server template"


def server_template_check(config: CoursehubConfig, layout: DataLayout) -> Check:
    """How student servers start, and, with the hub up, whether the template answers."""
    if config.servers.start == "cold":
        return Check(NAME, "info", "servers start cold (servers.start: cold)")
    if not forks_here(config):
        return Check(NAME, "info", f"servers start in the {config.spawn.backend} backend")
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


KERNELS = "kernel templates"


def kernel_templates_check(config: CoursehubConfig, layout: DataLayout) -> Check:
    """With the hub up: does each built course environment's kernel template answer?"""
    if config.servers.start == "cold":
        return Check(KERNELS, "info", "kernels start cold (servers.start: cold)")
    if not forks_here(config):
        return Check(KERNELS, "info", f"kernels start inside the {config.spawn.backend} servers")
    courses = built_courses(layout)
    if not courses:
        return Check(KERNELS, "info", "no course has a built environment: nothing to fork")
    if not layout.up_pid_file.exists():
        return Check(KERNELS, "info", "the templates start with the hub (`coursehub up`)")
    problems: list[str] = []
    forks = 0
    for course in courses:
        status = template_status(str(template_socket(layout.root, course)), timeout=2.0)
        if status is None:
            problems.append(f"{course}: not answering")
        elif status.get("threads", 1) != 1:
            problems.append(f"{course}: runs {status['threads']} threads, so it refuses to fork")
        elif not status.get("current", True):
            problems.append(f"{course}: started for an environment since rebuilt")
        else:
            forks += int(status.get("forks") or 0)
    logs = layout.logs / "kernel-templates"
    if problems:
        return Check(
            KERNELS,
            "warn",
            "kernels of these courses start cold: " + "; ".join(problems),
            f"the hub restarts or replaces a template within seconds; if this persists, "
            f"read {logs}/COURSE.log",
        )
    return Check(
        KERNELS, "ok", f"{len(courses)} answering, {forks} kernels forked since they started"
    )
