"""Start-up hooks on a real hub: who runs them, and what a student sees when one fails."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.gitrepo import EMPTY_NOTEBOOK

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456"}
HOOK_TIMEOUT = 15


def _script(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


@pytest.fixture(scope="module")
def hooks() -> Iterator[Path]:
    hooks = Path(f"/tmp/coursehub-test-hooks-{secrets.token_hex(4)}")
    hooks.mkdir(mode=0o755)
    os.chmod(hooks, 0o755)
    _script(hooks / "site" / "as-root", "touch by-root\necho root is $(id -u)\n")
    _script(hooks / "site" / "as-user", "touch by-student\necho student is $(id -u)\n")
    _script(hooks / "failing" / "as-root", "echo checking\necho no licence server\nexit 3\n")
    _script(hooks / "hanging" / "as-user", "touch hanging-started\nsleep 300\n")
    # a course folder anybody could write to: a student could plant an as-root hook
    _script(hooks / "planted" / "as-root", "touch planted-ran\n")
    os.chmod(hooks / "planted", 0o777)
    yield hooks
    shutil.rmtree(hooks, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(
    hooks: Path,
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
) -> hubproc.RunningHub:
    # (hooks first: the hub stops before its hooks go)
    repo = make_course_repo({"intro.ipynb": EMPTY_NOTEBOOK})
    alice = hubproc.Course(repo, ("alice",))
    return start_hub(
        "hooks-site",
        users=USERS,
        extra_yaml=f"hooks:\n  dir: {hooks}\n  timeout: {HOOK_TIMEOUT}s\n",
        courses={
            "algebra": hubproc.Course(repo, ("alice", "bob")),
            "failing": alice,
            "hanging": alice,
            "planted": alice,
        },
    )


def _workspace(hub: hubproc.RunningHub, user: str, course: str) -> Path:
    return hub.home_root / hub.unix_name(user) / "courses" / course


def test_hooks_run_as_root_then_as_the_student_and_log_for_staff_only(
    hub: hubproc.RunningHub,
) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server="algebra")
    assert events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    workspace = _workspace(hub, "alice", "algebra")
    alice = pwd.getpwnam(hub.unix_name("alice"))
    assert (workspace / "by-root").stat().st_uid == 0
    assert (workspace / "by-student").stat().st_uid == alice.pw_uid
    log = hub.data_dir / "logs" / "hooks" / "alice-algebra.log"
    text = log.read_text()
    assert "root is 0" in text and f"student is {alice.pw_uid}" in text
    # the student's own output too is for the staff: root's file, not readable by alice
    assert log.stat().st_uid == 0 and log.stat().st_mode & 0o077 == 0


def test_a_failing_hook_is_reported_to_the_student(hub: hubproc.RunningHub) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server="failing")
    assert events[-1].get("failed"), events
    shown = json.dumps(events)
    assert "start-up script failed (exit 3): no licence server" in shown, shown[-800:]
    # the student's server never started
    assert not (_workspace(hub, "alice", "failing") / "by-student").exists()


def test_hooks_others_could_change_are_refused(hub: hubproc.RunningHub) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server="planted")
    assert events[-1].get("failed"), events
    shown = json.dumps(events)
    assert "Start-up scripts refused" in shown and "writable by others" in shown, shown[-800:]
    workspace = _workspace(hub, "alice", "planted")
    assert not (workspace / "planted-ran").exists() and not (workspace / "by-root").exists()
    assert "Start-up hooks for" in hub.log_tail(400)


def _sleepers(account: str) -> list[str]:
    found = subprocess.run(["pgrep", "-u", account, "sleep"], capture_output=True, text=True)
    return found.stdout.split()


def test_a_hanging_hook_is_stopped_and_the_hub_keeps_serving_others(
    hub: hubproc.RunningHub,
) -> None:
    alice = login(hub.url, "alice", USERS["alice"])
    bob = login(hub.url, "bob", USERS["bob"])
    started = _workspace(hub, "alice", "hanging") / "hanging-started"
    with ThreadPoolExecutor(1) as pool:
        hanging = pool.submit(start_server, alice, "alice", server="hanging")
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert started.exists(), hub.log_tail()
        # while alice's hook hangs: the hub answers and bob's server starts
        assert httpx.get(f"{hub.url}/hub/health", timeout=10).status_code == 200
        events = start_server(bob, "bob", server="algebra")
        assert events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
        alice_events = hanging.result(timeout=300)
    assert alice_events[-1].get("failed"), alice_events
    shown = json.dumps(alice_events)
    assert f"did not finish within {HOOK_TIMEOUT} s" in shown, shown[-800:]
    # the hook's processes are gone
    account = hub.unix_name("alice")
    deadline = time.monotonic() + 30
    while _sleepers(account) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _sleepers(account) == []
