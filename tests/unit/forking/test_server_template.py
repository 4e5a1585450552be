"""The server template on its own, without a hub: its protocol, who may talk to it,
hostile clients, forks it refuses, exit codes, and being replaced when the server
stack changes. Real template processes (root), real forks.

The forked server's identity, isolation and faults inside a running hub are in
tests/integration/forking/test_forked_servers.py.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursehub.forking.protocol import (
    MAX_FRAME,
    STAT,
    ProtocolError,
    recv_frame,
    send_frame,
)
from coursehub.forking.servers import manager
from coursehub.forking.servers.manager import ServerTemplate, TemplateUnavailable
from coursehub.hub.spawners.process_state import ProcessGone, process_start_time

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the template forks as root")


def test_frames_carry_json_and_a_descriptor(tmp_path: Path) -> None:
    a, b = socket.socketpair()
    log = open(tmp_path / "log", "wb")  # noqa: SIM115
    with a, b, log:
        send_frame(a, {"x": [1, 2]}, fds=[log.fileno()])
        data, fds = recv_frame(b, max_fds=1)
        assert data == {"x": [1, 2]} and len(fds) == 1
        os.write(fds[0], b"through the passed descriptor")
        os.close(fds[0])
    assert (tmp_path / "log").read_bytes() == b"through the passed descriptor"


def test_oversized_truncated_and_non_object_frames_are_refused() -> None:
    for raw in (
        (MAX_FRAME + 1).to_bytes(4, "big"),
        (10).to_bytes(4, "big") + b"{",
        (2).to_bytes(4, "big") + b"[]",
    ):
        a, b = socket.socketpair()
        with a, b:
            a.sendall(raw)
            a.shutdown(socket.SHUT_WR)
            with pytest.raises(ProtocolError):
                recv_frame(b)


def test_a_zombie_or_a_reused_pid_is_a_gone_process() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        start = process_start_time(proc.pid)
        assert start > 0 and process_start_time(proc.pid) == start
        proc.kill()
        time.sleep(0.3)  # dead, not yet waited for: a zombie
        with pytest.raises(ProcessGone):
            process_start_time(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    with pytest.raises(ProcessGone):
        process_start_time(proc.pid)


@pytest.fixture
def template(tmp_path: Path) -> Iterator[ServerTemplate]:
    # Outside pytest's 0700 tmp: the unprivileged client test must reach the socket.
    folder = Path(tempfile.mkdtemp(prefix="coursehub-test-template-"))
    t = ServerTemplate(sys.executable, folder / "server-template.sock", tmp_path / "template.log")
    try:
        yield t
    finally:
        t.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_ready(t: ServerTemplate) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = t.status()
        if status is not None:
            return status
        assert t.proc is not None and t.proc.poll() is None, t.log_path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"template not ready:\n{t.log_path.read_text()}")


def _request(tmp_path: Path, **changes: object) -> dict:
    nobody = pwd.getpwnam("nobody")
    request = {
        "argv": ["--version"],
        "env": {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        "cwd": "/",
        "uid": nobody.pw_uid,
        "gid": nobody.pw_gid,
        "groups": [],
        "umask": 0o077,
        "home": "/nonexistent",
        "cgroup_procs": [],
        "limits": {"file_size": None, "processes": None, "set_nproc": False},
    }
    request.update(changes)
    return request


@root_only
def test_the_template_holds_no_secret_and_reports_its_health(
    template: ServerTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFIGPROXY_AUTH_TOKEN", "hub-secret-never-in-the-template")
    template.start()
    status = _wait_ready(template)
    assert status["threads"] == 0 and status["forks"] == 0 and status["modules"] >= 10
    assert status["pid"] == template.proc.pid
    environ = Path(f"/proc/{status['pid']}/environ").read_bytes()
    assert b"hub-secret-never-in-the-template" not in environ
    assert os.stat(template.socket_path).st_mode & 0o777 == 0o600


@root_only
def test_a_forked_child_runs_the_server_command_and_its_exit_code_is_kept(
    template: ServerTemplate, tmp_path: Path
) -> None:
    template.start()
    _wait_ready(template)
    log = tmp_path / "server.log"
    with open(log, "wb") as fh:
        pid = template.fork(_request(tmp_path), fh.fileno())
    deadline = time.monotonic() + 60
    while template.exit_code(pid) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert template.exit_code(pid) == 0
    import jupyterhub

    # jupyterhub-singleuser --version ran, as nobody, with its output in the log
    assert jupyterhub.__version__ in log.read_text()
    assert template.status()["forks"] == 1


@root_only
def test_forks_it_must_refuse_are_refused_and_it_keeps_serving(
    template: ServerTemplate, tmp_path: Path
) -> None:
    template.start()
    _wait_ready(template)
    with open(tmp_path / "server.log", "wb") as fh:
        with pytest.raises(TemplateUnavailable, match="never runs as root"):
            template.fork(_request(tmp_path, uid=0), fh.fileno())
        with pytest.raises(TemplateUnavailable, match="cwd missing"):
            template.fork(_request(tmp_path, cwd=None), fh.fileno())
    # Garbage, a wrong operation, a client that connects and says nothing.
    for raw in (b"", b"XXXX", b"FO", b"FORK" + b"\xff" * 64):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(template.socket_path))
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                s.recv(1024)
    status = template.status()
    assert status is not None and status["pid"] == template.proc.pid


@root_only
def test_only_the_account_that_started_it_may_ask(template: ServerTemplate) -> None:
    template.start()
    _wait_ready(template)
    os.chmod(template.socket_path, 0o666)  # even reachable, another account gets nothing
    os.chmod(template.socket_path.parent, 0o755)
    probe = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX); s.settimeout(10)\n"
        "try:\n"
        f"    s.connect({str(template.socket_path)!r}); s.sendall({STAT!r})\n"
        "    print(repr(s.recv(100)) or 'nothing')\n"
        "except (ConnectionResetError, BrokenPipeError):\n"
        "    print('nothing')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() in ("b''", "nothing"), out.stdout + out.stderr


@root_only
def test_a_changed_server_stack_replaces_the_template(
    template: ServerTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = ["before"]
    monkeypatch.setattr(manager, "server_stack_fingerprint", lambda: stack[0])
    monkeypatch.setattr(manager, "FINGERPRINT_EVERY", 0.0)
    template.start()
    first = _wait_ready(template)
    assert first["fingerprint"] == "before"
    template.start()  # nothing changed: the same process
    assert _wait_ready(template)["pid"] == first["pid"]
    stack[0] = "after an upgrade"
    template.start()
    second = _wait_ready(template)
    assert second["pid"] != first["pid"] and second["fingerprint"] == "after an upgrade"
    with pytest.raises(ProcessGone):
        process_start_time(first["pid"])


@root_only
def test_a_crashed_template_means_cold_starts_then_a_new_template(
    template: ServerTemplate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template.start()
    first = _wait_ready(template)
    template.proc.kill()
    template.proc.wait()
    with open(tmp_path / "server.log", "wb") as fh:
        with pytest.raises(TemplateUnavailable, match="exited"):
            template.fork(_request(tmp_path), fh.fileno())
        monkeypatch.setattr(manager, "RESTART_BACKOFF", 0.0)
        pid = template.fork(_request(tmp_path), fh.fileno(), wait=60)
    assert pid > 0 and _wait_ready(template)["pid"] != first["pid"]


@root_only
def test_an_old_template_leaves_its_successors_socket(
    template: ServerTemplate, tmp_path: Path
) -> None:
    # As after `coursehub restart`: the new hub's template binds the same path while
    # the old one is still on its way out.
    template.start()
    old = _wait_ready(template)
    successor = ServerTemplate(sys.executable, template.socket_path, tmp_path / "new.log")
    try:
        successor.start()
        deadline = time.monotonic() + 60
        while (template.status() or {}).get("pid") == old["pid"]:
            assert time.monotonic() < deadline, "the successor never bound the socket"
            time.sleep(0.1)
        new = _wait_ready(successor)
        template.stop()  # the old one exits and cleans up after itself
        again = successor.status()
        assert again is not None and again["pid"] == new["pid"]
    finally:
        successor.stop()
