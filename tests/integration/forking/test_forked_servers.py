"""Forked student servers inside a real hub: what a forked server is (the student's
own clean process, nothing of the hub's or the template's), and the faults: a server
that crashes touches neither the template nor other students, and a template killed
in the middle of a burst of starts loses no start (cold starts until a new template
is up). Real hub, proxy, Unix accounts and servers.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from coursehub.forking.servers.manager import ServerTemplate
from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {name: f"{name}-pass-123" for name in ("alice", "bob", "s1", "s2", "s3", "s4", "s5")}


@pytest.fixture(scope="module")
def hub(start_hub: Callable[..., hubproc.RunningHub]) -> hubproc.RunningHub:
    return start_hub("site", users=USERS)


def _start(hub: hubproc.RunningHub, user: str) -> tuple[str, str]:
    events = start_server(login(hub.url, user, USERS[user]), user)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    return f"{hub.url}/user/{user}/", hub.user_token(user)


def _server_pid(server: str, token: str) -> int:
    return int(run_code(server, token, "import os; print(os.getppid())")["stdout"])


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _template_pid(hub: hubproc.RunningHub) -> int:
    """Asked the way `coursehub doctor` asks: over the template's socket."""
    socket_path = hub.data_dir / "runtime" / "server-template.sock"
    status = ServerTemplate(sys.executable, socket_path, socket_path.with_suffix(".log")).status()
    assert status is not None, hub.log_tail()
    return int(status["pid"])


def _memory_holds(pid: int, needles: list[bytes]) -> list[bytes]:
    """Which of `needles` are anywhere in the process's readable memory."""
    found = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue
            found.update(n for n in needles if n in chunk)
    return sorted(found)


def test_a_forked_server_is_the_students_own_clean_process(hub: hubproc.RunningHub) -> None:
    server, token = _start(hub, "alice")
    pid = _server_pid(server, token)
    template = _template_pid(hub)
    assert int(_status(pid)["PPid"]) == template
    import pwd

    account = pwd.getpwnam(hub.unix_name("alice"))
    status = _status(pid)
    assert status["Uid"].split() == [str(account.pw_uid)] * 4
    assert status["Gid"].split() == [str(account.pw_gid)] * 4
    groups = sorted(int(g) for g in status["Groups"].split())
    assert groups == sorted(set(os.getgrouplist(account.pw_name, account.pw_gid)))
    assert os.getsid(pid) == pid  # a session of its own
    assert os.readlink(f"/proc/{pid}/cwd") == account.pw_dir
    # Descriptors: stdin is /dev/null, output goes to the server's log, and nothing
    # of the template's (its listening socket) or of the hub's is open.
    fds = {int(fd.name): os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
    assert fds[0] == "/dev/null"
    assert fds[1] == fds[2] == str(hub.data_dir / "logs" / "servers" / "alice.log")
    template_sockets = {os.readlink(fd) for fd in Path(f"/proc/{template}/fd").iterdir()} - {
        "/dev/null"
    }
    assert not (set(fds.values()) & {s for s in template_sockets if s.startswith("socket:")})
    assert not [f for f in fds.values() if str(hub.data_dir / "secrets") in f]
    # Its environment is the one the hub gave it (seen through its kernel).
    env = run_code(server, token, "import os, json; print(json.dumps(dict(os.environ)))")
    assert f'"USER": "{account.pw_name}"' in env["stdout"]
    assert f'"HOME": "{account.pw_dir}"' in env["stdout"]
    assert "CONFIGPROXY_AUTH_TOKEN" not in env["stdout"]
    # ps shows a server, not a second template
    assert b"coursehub.student.singleuser" in Path(f"/proc/{pid}/cmdline").read_bytes()
    # The template has no secret in its memory: not the hub's, nor alice's token.
    secrets_dir = hub.data_dir / "secrets"
    needles = [p.read_bytes().strip() for p in secrets_dir.iterdir() if p.is_file()]
    needles.append(token.encode())
    assert _memory_holds(template, needles) == []


def test_a_crashing_server_touches_neither_the_template_nor_others(
    hub: hubproc.RunningHub,
) -> None:
    alice, alice_token = _start(hub, "alice")
    bob, bob_token = _start(hub, "bob")
    template = _template_pid(hub)
    os.kill(_server_pid(alice, alice_token), signal.SIGKILL)
    assert run_code(bob, bob_token, "print(6 * 7)")["stdout"].strip() == "42"
    assert _template_pid(hub) == template
    # The hub sees alice's server gone (a dead child of the template is not running),
    # and her next start is forked again by the same template.
    stopped = hub.cli("servers", "stop", "alice")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    deadline = time.monotonic() + 60
    while "alice" in hub.cli("servers", "list").stdout and time.monotonic() < deadline:
        time.sleep(0.5)
    again, again_token = _start(hub, "alice")
    assert int(_status(_server_pid(again, again_token))["PPid"]) == template


def _burst(hub: hubproc.RunningHub, students: list[str], during: object = None) -> str:
    """Start `students` at once (`during()` right after the first is on its way);
    every one must end with a working server. Returns the hub's log of the burst."""
    log_before = len(hub.log.read_text(errors="replace")) if hub.log else 0
    results: dict[str, object] = {}

    def one(user: str) -> None:
        try:
            results[user] = _start(hub, user)
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[user] = exc

    threads = [threading.Thread(target=one, args=(u,)) for u in students]
    threads[0].start()
    if callable(during):
        during()
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(300)
    failures = {u: r for u, r in results.items() if not isinstance(r, tuple)}
    assert len(results) == len(students) and not failures, failures
    for user in students:
        server, token = results[user]  # type: ignore[misc]
        assert run_code(server, token, "print('alive')")["stdout"].strip() == "alive"
    burst_log = (hub.log.read_text(errors="replace") if hub.log else "")[log_before:]
    started = re.findall(r"(?:Forked|Cold start for) (s\d)", burst_log)
    assert sorted(started) == sorted(students), burst_log[-3000:]  # each started once
    return burst_log


def _stop_all(hub: hubproc.RunningHub, students: list[str]) -> None:
    for user in students:
        stopped = hub.cli("servers", "stop", user)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = hub.cli("servers", "list").stdout
        if not any(re.search(rf"\b{u}\b", listed) for u in students):
            return
        time.sleep(0.5)
    pytest.fail(f"servers did not stop: {listed}")


def test_killing_the_template_during_a_burst_of_starts_loses_no_start(
    hub: hubproc.RunningHub,
) -> None:
    students = ["s1", "s2", "s3", "s4", "s5"]
    old = _template_pid(hub)
    _burst(hub, students, during=lambda: os.kill(old, signal.SIGKILL))
    # The hub started a new template at once and the burst waited for it or went cold.
    new = _template_pid(hub)
    assert new != old
    log = (hub.data_dir / "logs" / "server-template.log").read_text()
    assert "the template exited (code -9): restarting it" in log
    _stop_all(hub, students)


def test_a_hung_template_does_not_hold_starts_up(hub: hubproc.RunningHub) -> None:
    students = ["s2", "s3"]
    template = _template_pid(hub)
    os.kill(template, signal.SIGSTOP)  # alive, connectable, never answering
    try:
        burst_log = _burst(hub, students)
    finally:
        os.kill(template, signal.SIGCONT)
    cold = re.findall(r"Cold start for (s\d): talking to the template failed", burst_log)
    assert sorted(cold) == students, burst_log[-3000:]
    # Once it answers again, starts are forked again.
    _stop_all(hub, students)
    server, token = _start(hub, "s2")
    assert int(_status(_server_pid(server, token))["PPid"]) == template


def test_doctor_reports_the_templates_health(hub: hubproc.RunningHub) -> None:
    _start(hub, "bob")
    result = hub.cli("doctor")
    text = " ".join(result.stdout.split())
    assert f"server template: pid {_template_pid(hub)}," in text, result.stdout
    assert "servers forked" in text
