"""Getting servers ready before class: coursehub's warm-up, and an admin's for the baseline.

Both are measured apart from the storm (their own CPU window), and both wait until every
server is ready before the class clicks.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from _fair.cpu import CpuWindow
from _lecture.sites import Site
from _storm import targets
from _storm.procs import TargetError

WARM_TIMEOUT = 900.0


@dataclass
class WarmUp:
    method: str
    seconds: float
    cpu: CpuWindow
    ready: int

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "seconds": round(self.seconds, 2), "ready": self.ready,
                "cpu": self.cpu.as_dict()}  # fmt: skip


def warm(site: Site, say: Callable[[str], None]) -> WarmUp:
    """Start every student's server for the link before the class, and wait for all."""
    cpu = CpuWindow(len(site.students), site_uids=site.uids())
    t0 = time.perf_counter()
    cpu.start()
    try:
        if site.link_kind == "coursehub":
            method = _coursehub_warm(site, say)
        else:
            method = "REST API: POST /hub/api/users/<user>/server for each student, then wait"
            start_through_api(site, say)
    finally:
        cpu.stop()
    ready = sum(1 for c in site.students if _ready(site.api, c.username, site.server_name))
    seconds = time.perf_counter() - t0
    say(f"{site.target}: warm-up took {seconds:.1f} s, {ready} of {len(site.students)} servers "
        f"ready; {cpu.describe()}")  # fmt: skip
    if ready < len(site.students):
        raise TargetError(f"warm-up left {len(site.students) - ready} servers not ready")
    return WarmUp(method, seconds, cpu, ready)


def _coursehub_warm(site: Site, say: Callable[[str], None]) -> str:
    """`coursehub course warm COURSE` when this coursehub has it, else the hub's API."""
    assert site.config is not None
    argv = targets.cli_argv(site.config, "course", "warm", site.server_name)
    probe = subprocess.run([*argv[:-1], "--help"], capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=WARM_TIMEOUT)
        if done.returncode != 0:
            raise TargetError(f"{' '.join(argv)} exited {done.returncode}: "
                              f"{(done.stderr or done.stdout)[-1500:]}")  # fmt: skip
        return "coursehub course warm"
    return _fallback_api_warm(site, say)


def _fallback_api_warm(site: Site, say: Callable[[str], None]) -> str:
    """Until `coursehub course warm` exists: the course servers started through the hub's
    REST API (what the warm-up does for the enrolled students). Remove with the CLI."""
    say(f"{site.target}: note: this coursehub has no `course warm` yet; the course servers "
        "are started through the hub's REST API instead")  # fmt: skip
    start_through_api(site, say)
    return "fallback: POST /hub/api/users/<user>/servers/<course> (no `course warm` yet)"


def start_through_api(site: Site, say: Callable[[str], None]) -> None:
    """An admin's warm-up: ask the hub to start every student's server, wait for all."""
    api, name = site.api, site.server_name
    for c in site.students:
        if api.get(f"/users/{c.username}").status_code == 404:
            api.post(f"/users/{c.username}").raise_for_status()
        path = f"/users/{c.username}/servers/{name}" if name else f"/users/{c.username}/server"
        r = api.post(path)
        if r.status_code not in (201, 202, 400):  # 400: already running
            raise TargetError(
                f"starting {c.username}'s server: HTTP {r.status_code} {r.text[:300]}"
            )
    end = time.monotonic() + WARM_TIMEOUT
    waiting = [c.username for c in site.students]
    while waiting and time.monotonic() < end:
        waiting = [u for u in waiting if not _ready(api, u, name)]
        time.sleep(0.5)
    if waiting:
        raise TargetError(f"{len(waiting)} servers not ready after {WARM_TIMEOUT:.0f} s")


def _ready(api: httpx.Client, user: str, name: str) -> bool:
    r = api.get(f"/users/{user}")
    if r.status_code != 200:
        return False
    server = (r.json().get("servers") or {}).get(name)
    return bool(server and server.get("ready"))


def stop_all(site: Site, timeout: float = 300) -> None:
    """Stop every student's server (between a first and a second lecture)."""
    name = site.server_name
    for c in site.students:
        path = f"/users/{c.username}/servers/{name}" if name else f"/users/{c.username}/server"
        site.api.delete(path)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        running = [c for c in site.students if _running(site.api, c.username, name)]
        if not running:
            return
        time.sleep(0.5)
    raise TargetError("servers still running after the first lecture")


def _running(api: httpx.Client, user: str, name: str) -> bool:
    r = api.get(f"/users/{user}")
    return r.status_code == 200 and name in (r.json().get("servers") or {})
