"""`coursehub doctor`'s operations checks: culling, start-up hooks, backups, metrics."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coursehub.backups.create import backup_time, list_backups
from coursehub.config.layout import DataLayout, Ports
from coursehub.config.models import BackupConfig, CoursehubConfig
from coursehub.config.translate.jupyterhub import (
    HubSecrets,
    Machine,
    culling_active,
    public_url,
    translate,
)
from coursehub.core.errors import HubNotRunning
from coursehub.core.roles import CULLER_SERVICE_NAME, SERVICE_NAME
from coursehub.engines.hub_api import HubClient
from coursehub.hub.spawners.hooks import SITE, UnsafeHooksError, find_hooks
from coursehub.ops.doctor import Check


def ops_checks(config: CoursehubConfig, layout: DataLayout) -> list[Check]:
    hub = None
    if layout.up_pid_file.exists():
        try:
            hub = HubClient.for_layout(layout)
        except HubNotRunning:
            hub = None
    try:
        checks = culling_checks(config, _translated_services(config, layout), hub)
    finally:
        if hub is not None:
            hub.close()
    checks.append(hooks_check(config.hooks.dir))
    checks.append(backup_check(config.backup))
    checks.append(metrics_check(config))
    return checks


def _translated_services(config: CoursehubConfig, layout: DataLayout) -> list[dict[str, Any]]:
    """The hub services `coursehub up` would configure (placeholder ports and secrets)."""
    ports = Ports(hub=1, proxy_api=2, service=3)
    secrets = HubSecrets("-", "-", "-", "-")
    machine = Machine(python="python3", cpu_count=os.cpu_count() or 1)
    return translate(config, layout, ports, secrets, machine)["JupyterHub"]["services"]


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def culling_checks(
    config: CoursehubConfig, services: list[dict[str, Any]], hub: HubClient | None
) -> list[Check]:
    """Timeouts set, the culler among the hub's services, and (hub up) running."""
    idle = config.idle
    if not culling_active(config):
        return [
            Check(
                "culling",
                "warn",
                "idle culling is off (idle.timeout and idle.max_age are 0, for the site and "
                "every course): idle servers keep their memory until someone stops them",
                "set idle.timeout in coursehub.yaml, e.g. 1h",
            )
        ]
    parts = [
        f"idle servers stop after {_duration(idle.timeout)}" if idle.timeout else "no idle timeout"
    ]
    parts.append(
        f"servers stop at {_duration(idle.max_age)} old" if idle.max_age else "no maximum age"
    )
    if idle.courses:
        parts.append("own timeouts for " + ", ".join(sorted(idle.courses)))
    checks = [Check("culling", "ok", "; ".join(parts))]
    culler = next((s for s in services if s.get("name") == CULLER_SERVICE_NAME), None)
    if culler is None or not culler.get("command"):
        checks.append(
            Check(
                "culler service",
                "fail",
                f"the hub configuration has no {CULLER_SERVICE_NAME} service: nothing stops "
                "idle servers",
                "this is a coursehub bug: report it with this output",
            )
        )
        return checks
    checks.append(Check("culler service", "ok", f"{CULLER_SERVICE_NAME} runs as a hub service"))
    if hub is not None:
        checks.append(culler_running(hub))
    return checks


def culler_running(hub: HubClient) -> Check:
    """Whether the running hub has the culler service and its process is alive."""
    name = "culler running"
    try:
        response = hub.request("GET", f"/services/{CULLER_SERVICE_NAME}")
    except HubNotRunning:
        return Check(name, "warn", "the hub did not answer", "check `coursehub up`'s output")
    if response.status_code == 404:
        return Check(
            name,
            "fail",
            f"the running hub has no {CULLER_SERVICE_NAME} service (it started with an "
            "older configuration)",
            "coursehub restart",
        )
    if response.status_code == 403:
        return Check(
            name,
            "warn",
            "the running hub does not let the command line see its services (it started "
            "before coursehub gave it that right)",
            "coursehub restart",
        )
    if response.status_code != 200:
        return Check(name, "warn", f"the hub answered HTTP {response.status_code}", "")
    pid = int(response.json().get("pid") or 0)
    if pid and _alive(pid):
        return Check(name, "ok", f"{CULLER_SERVICE_NAME} is running (pid {pid})")
    return Check(
        name,
        "fail",
        f"the hub's {CULLER_SERVICE_NAME} service is not running: idle servers are not stopped",
        "see `coursehub up`'s output for why it exited, then `coursehub restart`",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another account
    return True


def hooks_check(hooks_dir: Path | None) -> Check:
    """The hooks folder passes the very safety check a server start makes."""
    if hooks_dir is None:
        return Check("start-up hooks", "info", "none (hooks.dir is not set)")
    if not hooks_dir.is_dir():
        return Check(
            "start-up hooks",
            "fail",
            f"hooks.dir {hooks_dir} does not exist: every server start fails",
            f"mkdir -p {hooks_dir} && chmod 755 {hooks_dir} (or remove hooks.dir)",
        )
    found = []
    scopes = [""] + sorted(
        p.name for p in hooks_dir.iterdir() if p.name != SITE and p.is_dir() and not p.is_symlink()
    )
    try:
        for course in scopes:
            for hook in find_hooks(hooks_dir, course):
                if hook.label not in found:
                    found.append(hook.label)
    except UnsafeHooksError as exc:
        return Check(
            "start-up hooks",
            "fail",
            f"{exc}: servers of the courses concerned do not start",
            f"chown -R root:root {hooks_dir}; chmod -R go-w {hooks_dir}; "
            f"chmod 755 {hooks_dir}/*/as-root {hooks_dir}/*/as-user",
        )
    if not found:
        return Check("start-up hooks", "ok", f"{hooks_dir} is safe and holds no hooks yet")
    return Check("start-up hooks", "ok", f"{hooks_dir} is safe: " + ", ".join(found))


def backup_check(backup: BackupConfig, now: datetime | None = None) -> Check:
    """The newest complete scheduled backup is younger than backup.max_age_warning."""
    if backup.dir is None:
        return Check(
            "backups",
            "info",
            "no schedule (backup.dir is not set); `coursehub backup DEST` takes one by hand",
        )
    take_one = f"coursehub backup {backup.dir}"
    found = list_backups(backup.dir)
    if not found:
        return Check(
            "backups",
            "warn",
            f"no complete backup in {backup.dir} yet",
            f"the service takes one when it runs; take one now with `{take_one}`",
        )
    newest = found[-1]
    age = ((now or datetime.now(UTC)) - backup_time(newest)).total_seconds()
    shown = _age(age)
    if age > backup.max_age_warning:
        return Check(
            "backups",
            "warn",
            f"the newest backup ({newest.name}) is {shown} old, more than "
            f"backup.max_age_warning ({_duration(backup.max_age_warning)})",
            f"look for backup errors in `coursehub up`'s output and for free space in "
            f"{backup.dir}; take one now with `{take_one}`",
        )
    return Check("backups", "ok", f"newest of {len(found)} in {backup.dir} is {shown} old")


def _age(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(seconds, 0) / 60:.0f} minutes"


def metrics_check(config: CoursehubConfig) -> Check:
    if not config.metrics.enabled:
        return Check("metrics", "info", "off (metrics.enabled is false)")
    url = f"{public_url(config)}/services/{SERVICE_NAME}/metrics"
    return Check(
        "metrics",
        "ok",
        f"Prometheus metrics at {url} and {public_url(config)}/hub/metrics "
        "(a token with read:metrics; see docs/metrics.md)",
    )
