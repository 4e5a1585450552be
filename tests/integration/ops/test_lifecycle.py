"""`coursehub up` as an admin uses it: the hub crashing, and Ctrl-C stopping everything."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

import psutil
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"fay": "fay-pass-123"}


def _wait_for(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def _user_processes(unix_name: str, servers_only: bool = False) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["username", "cmdline"]):
        if p.info["username"] != unix_name:
            continue
        if servers_only and "coursehub.student.singleuser" not in " ".join(p.info["cmdline"] or []):
            continue
        found.append(p)
    return found


def test_crashed_hub_is_restarted_and_ctrl_c_stops_everything(
    start_hub: Callable[..., hubproc.RunningHub],
) -> None:
    site = start_hub("lifecycle", users=USERS)
    client = login(site.url, "fay", USERS["fay"])
    assert start_server(client, "fay")[-1].get("ready")
    server_pids = {p.pid for p in _user_processes(site.unix_name("fay"), servers_only=True)}
    assert server_pids

    # The hub dies hard: `coursehub up` starts a new one; the server survives.
    pid_file = site.data_dir / "runtime" / "jupyterhub.pid"
    old = int(pid_file.read_text())
    os.kill(old, signal.SIGKILL)
    _wait_for(
        lambda: pid_file.exists() and pid_file.read_text().strip() not in ("", str(old)),
        90,
        "a new hub",
    )
    hubproc.wait_healthy(site)
    alive = {p.pid for p in _user_processes(site.unix_name("fay"), servers_only=True)}
    assert server_pids == alive
    assert login(site.url, "fay", USERS["fay"]).get("/hub/home").status_code == 200

    # Ctrl-C: servers, hub, service and proxy all stop; `up` exits cleanly.
    assert site.proc is not None
    site.proc.send_signal(signal.SIGINT)
    assert site.proc.wait(90) == 0
    assert _user_processes(site.unix_name("fay")) == []
    leftovers = subprocess.run(
        ["pgrep", "-f", str(site.data_dir)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == [], leftovers
    assert "stopping 1 student server(s)" in site.log_tail(200)
