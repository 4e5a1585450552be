"""One server per (student x course), in a workspace of its own, for enrolled students only."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456"}


def _course_repo() -> Path:
    repo = Path(f"/tmp/coursehub-test-repo-{secrets.token_hex(4)}")
    (repo / "notebooks").mkdir(parents=True)
    (repo / "notebooks" / "intro.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "first"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    return repo


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hubproc.RunningHub]:
    site = hubproc.write_site(tmp_path_factory.mktemp("courses-site"), users=USERS)
    repo = _course_repo()
    try:
        hubproc.start(site)
        for args in (
            ("course", "add", "algebra", "--repo", str(repo)),
            ("course", "add", "physics", "--repo", str(repo)),
            ("course", "enrol", "algebra", "alice", "--role", "student"),
            ("course", "enrol", "physics", "alice", "--role", "student"),
        ):
            done = site.cli(*args)
            assert done.returncode == 0, done.stderr
        yield site
    finally:
        hubproc.stop(site)
        shutil.rmtree(repo, ignore_errors=True)


def _token(hub: hubproc.RunningHub, user: str) -> str:
    cli_token = (hub.data_dir / "secrets" / "cli_token").read_text().strip()
    ports = json.loads((hub.data_dir / "runtime" / "ports.json").read_text())
    response = httpx.post(
        f"http://127.0.0.1:{ports['hub']}/hub/api/users/{user}/tokens",
        headers={"Authorization": f"token {cli_token}"},
        json={"note": "test", "expires_in": 600},
    )
    response.raise_for_status()
    return response.json()["token"]


def test_each_course_gets_its_own_server_and_workspace(hub: hubproc.RunningHub) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    token = _token(hub, "alice")
    homes = hub.home_root / hub.unix_name("alice")
    for course in ("algebra", "physics"):
        events = start_server(client, "alice", server=course)
        assert events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    # both course servers run side by side, each in its own workspace, as alice
    for course in ("algebra", "physics"):
        out = run_code(
            f"{hub.url}/user/alice/{course}/",
            token,
            "import os, pwd; print(os.getcwd()); print(pwd.getpwuid(os.getuid()).pw_name)",
        )
        cwd, account = out["stdout"].split()
        assert Path(cwd) == homes / "courses" / course
        assert account == hub.unix_name("alice")
        assert (Path(cwd).stat().st_mode & 0o777) == 0o700


def test_a_student_not_enrolled_is_told_so(hub: hubproc.RunningHub) -> None:
    client = login(hub.url, "bob", USERS["bob"])
    events = start_server(client, "bob", server="algebra")
    assert events[-1].get("failed"), events
    assert "not enrolled" in json.dumps(events)
    events = start_server(client, "bob", server="no-such-course")
    assert events[-1].get("failed")
    assert "no course called" in json.dumps(events)
