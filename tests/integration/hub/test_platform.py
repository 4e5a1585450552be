"""A real hub, proxy, service and student servers, with real Unix accounts.

Each student signs in through the hub's login form; their server runs as their
own Unix account, and one student cannot reach another's files or processes. Every
test runs twice: with servers forked from the template (the default) and with cold
starts (`servers.start: cold`).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {
    "alice": "alice-pass-123",
    "bob": "bob-pass-456",
    "teacher": "teach-pass-789",
    "guessme": "guess-pass-000",
}


@pytest.fixture(scope="module", params=["forked", "cold"])
def hub(
    request: pytest.FixtureRequest, site_folder: Callable[..., Path]
) -> Iterator[hubproc.RunningHub]:
    # not start_hub: each kind of start gets its hub, stopped before the next one starts
    with hubproc.running(
        site_folder("site"),
        users=USERS,
        roles={"teacher": "instructor"},
        extra_yaml="servers:\n  limits: {memory: 1G, cpu: 1.0, processes: 300}\n"
        f"  start: {request.param}\n"
        "auth:\n  max_failed_logins: 3\n",
    ) as site:
        site.extra["start"] = request.param
        yield site


def _ready_server(hub: hubproc.RunningHub, user: str) -> tuple[str, str]:
    client = login(hub.url, user, USERS[user])
    events = start_server(client, user)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    return f"{hub.url}/user/{user}/", hub.user_token(user)


def test_login_form_starts_a_server_as_the_students_own_account(hub: hubproc.RunningHub) -> None:
    server, token = _ready_server(hub, "alice")
    out = run_code(
        server,
        token,
        "import os, pwd, resource\n"
        "print(pwd.getpwuid(os.getuid()).pw_name)\n"
        "print(os.getcwd())\n"
        "print(resource.getrlimit(resource.RLIMIT_NPROC)[0])\n"
        "print(open('/proc/self/cgroup').read())\n",
    )
    lines = out["stdout"].splitlines()
    assert lines[0] == hub.unix_name("alice")
    home = Path(lines[1])
    assert home == hub.home_root / hub.unix_name("alice")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert lines[2] == "300"
    assert f"coursehub/{hub.unix_name('alice')}" in out["stdout"]


def test_servers_start_the_configured_way(hub: hubproc.RunningHub) -> None:
    server, token = _ready_server(hub, "teacher")
    out = run_code(server, token, "import os; print(os.getppid())")
    server_pid = int(out["stdout"])
    parent = Path(f"/proc/{server_pid}/status").read_text()
    parent_pid = int(next(x for x in parent.splitlines() if x.startswith("PPid:")).split()[1])
    parent_args = Path(f"/proc/{parent_pid}/cmdline").read_bytes()
    forked = f"Forked teacher from the server template (pid {server_pid})" in hub.log_tail(2000)
    if hub.extra["start"] == "forked":
        assert forked, hub.log_tail()
        assert b"coursehub.forking.servers.template" in parent_args
    else:
        assert not forked and b"coursehub.forking.servers.template" not in parent_args


def test_memory_limit_is_enforced_by_cgroup(hub: hubproc.RunningHub) -> None:
    limit = Path(f"/sys/fs/cgroup/memory/coursehub/{hub.unix_name('alice')}/memory.limit_in_bytes")
    if not limit.parent.parent.exists() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        pytest.skip("no writable memory cgroup on this machine")
    _ready_server(hub, "alice")
    assert int(limit.read_text()) == 1024**3


def test_students_cannot_reach_each_others_files_or_processes(hub: hubproc.RunningHub) -> None:
    bob_server, bob_token = _ready_server(hub, "bob")
    out = run_code(
        bob_server,
        bob_token,
        "import os\nopen('secret.txt','w').write('bob only')\nprint(os.getppid())\n",
    )
    bob_server_pid = int(out["stdout"].strip())
    bob_home = hub.home_root / hub.unix_name("bob")
    alice_server, alice_token = _ready_server(hub, "alice")
    probe = run_code(
        alice_server,
        alice_token,
        "import os\n"
        "def attempt(f):\n"
        "    try:\n"
        "        f(); print('OPEN')\n"
        "    except PermissionError:\n"
        "        print('EACCES')\n"
        f"attempt(lambda: open({str(bob_home / 'secret.txt')!r}).read())\n"
        f"attempt(lambda: os.listdir({str(bob_home)!r}))\n"
        f"attempt(lambda: open('/proc/{bob_server_pid}/environ').read())\n"
        f"attempt(lambda: open('/proc/{bob_server_pid}/mem','rb').read(1))\n"
        f"attempt(lambda: os.kill({bob_server_pid}, 0))\n",
    )
    assert probe["stdout"].split() == ["EACCES"] * 5, probe


def test_wrong_password_and_unknown_user_are_refused(hub: hubproc.RunningHub) -> None:
    for user, password in (("alice", "not-her-password"), ("mallory", "whatever-123")):
        with pytest.raises(AssertionError, match="login failed"):
            login(hub.url, user, password)


def test_password_guessing_locks_the_account_with_a_clear_page(hub: hubproc.RunningHub) -> None:
    for _ in range(3):
        with pytest.raises(AssertionError, match="HTTP 403"):
            login(hub.url, "guessme", "wrong-guess-1")
    # now even the right password is refused for a while, with an explanation
    with pytest.raises(AssertionError, match="HTTP 429"):
        login(hub.url, "guessme", USERS["guessme"])
    client = httpx.Client(base_url=hub.url)
    client.get("/hub/login")
    xsrf = next(c.value for c in client.cookies.jar if c.name == "_xsrf")
    page = client.post(
        "/hub/login", data={"username": "guessme", "password": "x" * 9, "_xsrf": xsrf}
    )
    assert page.status_code == 429 and "Too many failed sign-ins" in page.text


def test_accounts_added_and_removed_while_the_hub_runs(hub: hubproc.RunningHub) -> None:
    added = hub.cli("users", "add", "carol", "--password-stdin", input="carol-pass-000\n")
    assert added.returncode == 0, added.stderr
    client = login(hub.url, "carol", "carol-pass-000")
    assert client.get("/hub/home").status_code == 200
    removed = hub.cli("users", "remove", "carol")
    assert removed.returncode == 0, removed.stderr
    assert "sessions ended" in removed.stdout
    # her existing session no longer works and she cannot sign in again
    assert client.get("/hub/home").status_code in (302, 403)
    with pytest.raises(AssertionError, match="login failed"):
        login(hub.url, "carol", "carol-pass-000")


def test_servers_list_and_stop(hub: hubproc.RunningHub) -> None:
    _ready_server(hub, "alice")
    listed = hub.cli("servers", "list")
    assert listed.returncode == 0 and "alice" in listed.stdout
    stopped = hub.cli("servers", "stop", "alice")
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "alice" not in hub.cli("servers", "list").stdout:
            break
        time.sleep(0.5)
    else:
        pytest.fail("alice's server did not stop")


def test_hub_restart_keeps_student_servers_and_routes(hub: hubproc.RunningHub) -> None:
    server, token = _ready_server(hub, "bob")
    pid_before = run_code(server, token, "import os; print(os.getppid())")["stdout"].strip()
    hub_pid_file = hub.data_dir / "runtime" / "jupyterhub.pid"
    old_hub_pid = hub_pid_file.read_text().strip()
    restarted = hub.cli("restart")
    assert restarted.returncode == 0, restarted.stderr
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        current = hub_pid_file.read_text().strip() if hub_pid_file.exists() else ""
        if current and current != old_hub_pid:
            break
        time.sleep(0.3)
    else:
        pytest.fail(f"hub did not restart\n{hub.log_tail()}")
    hubproc.wait_healthy(hub)
    # the same server process answers through the proxy after the restart
    pid_after = run_code(server, token, "import os; print(os.getppid())")["stdout"].strip()
    assert pid_after == pid_before
    assert os.path.exists(f"/proc/{pid_before}")


def test_no_secret_or_password_reaches_the_logs(hub: hubproc.RunningHub) -> None:
    _ready_server(hub, "alice")
    secrets_dir = hub.data_dir / "secrets"
    values = [p.read_text().strip() for p in secrets_dir.iterdir()]
    values += list(USERS.values())
    logs = hub.log.read_text(errors="replace") if hub.log else ""
    logs += "".join(p.read_text(errors="replace") for p in (hub.data_dir / "logs").rglob("*.log"))
    assert logs, "expected some log output"
    for value in values:
        assert value not in logs
