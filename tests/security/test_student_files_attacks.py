"""A student against the way their own server places course files (student/workspace,
used for links, reset and share on the Docker and Kubernetes backends): links they
leave in their workspace, paths out of it, and another student's server.

Docker and Kubernetes are not available here: the server is a real course server of
the local backend, running as the real student account, reached through the real
proxy with a single-server token issued by the real hub; the traps are made by the
student account itself.
"""

from __future__ import annotations

import json
import pwd
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from coursehub.courses.student_files import ServerFiles
from coursehub.courses.workspace import WorkspaceError
from coursehub.monitor.server_tokens import ServerTokens
from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456"}
COURSE = "pyds"
NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo({"w1/intro.ipynb": NOTEBOOK, "course.yaml": "title: Data\n"})
    site = start_hub(
        "student-files-attacks",
        users=USERS,
        courses={COURSE: hubproc.Course(repo, ("alice", "bob"))},
    )
    for user in USERS:
        client = login(site.url, user, USERS[user])
        events = start_server(client, user, server=COURSE)
        assert events[-1].get("ready"), events
    return site


def _as_student(hub: hubproc.RunningHub, user: str, *command: str) -> None:
    entry = pwd.getpwnam(hub.unix_name(user))
    subprocess.run(command, user=entry.pw_uid, group=entry.pw_gid, check=True, cwd="/")


def _workspace(hub: hubproc.RunningHub, user: str) -> Path:
    return hub.home_root / hub.unix_name(user) / "courses" / COURSE


@pytest.fixture
async def alices(hub: hubproc.RunningHub) -> AsyncIterator[ServerFiles]:
    async with httpx.AsyncClient(timeout=60) as client:
        tokens = ServerTokens(f"{hub.url}/hub/api", hub.user_token("alice"))
        yield ServerFiles(proxy_url=hub.url, base_url="/", tokens=tokens, client=client)


async def test_links_the_student_leaves_are_never_written_or_read_through(
    hub: hubproc.RunningHub, alices: ServerFiles
) -> None:
    workspace = _workspace(hub, "alice")
    _as_student(hub, "alice", "mkdir", "-p", str(workspace / "w1"))
    _as_student(hub, "alice", "ln", "-s", "/etc/passwd", str(workspace / "w1" / "intro.ipynb"))
    bob_file = _workspace(hub, "bob") / "secret.ipynb"
    bob_file.parent.mkdir(parents=True, exist_ok=True)
    bob_file.write_text("bob's")
    _as_student(hub, "alice", "ln", "-s", str(bob_file), str(workspace / "bobs.ipynb"))

    kept = await alices.copy_notebook("alice", COURSE, "w1/intro.ipynb", "w1/intro.ipynb", [])
    assert kept is None  # the student's own name stays theirs, the link is not followed
    assert "root:" in Path("/etc/passwd").read_text()  # untouched
    for path in ("w1/intro.ipynb", "bobs.ipynb"):
        with pytest.raises(WorkspaceError, match="not in your workspace"):
            await alices.read_notebook("alice", COURSE, path)
        assert (await alices.hash_files("alice", COURSE, [path])) == {path: None}
    # a reset moves the link aside (as a link) and puts the course version in place
    reset = await alices.reset_notebook("alice", COURSE, "w1/intro.ipynb", "w1/intro.ipynb", "t")
    assert (workspace / "w1" / reset.kept_as).is_symlink()
    assert json.loads((workspace / "w1" / "intro.ipynb").read_text())["cells"] == []


async def test_paths_out_of_the_workspace_or_the_course_are_refused(
    hub: hubproc.RunningHub, alices: ServerFiles
) -> None:
    for path in ("../../etc/passwd", "/etc/passwd", "w1/../../x", "../bob/x.ipynb"):
        with pytest.raises(WorkspaceError, match="inside the folder"):
            await alices.copy_notebook("alice", COURSE, "w1/intro.ipynb", path, [])
        with pytest.raises(WorkspaceError, match="inside the folder"):
            await alices.read_notebook("alice", COURSE, path)
    with pytest.raises(WorkspaceError, match="inside the folder"):
        await alices.copy_notebook("alice", COURSE, "../../../etc/shadow", "w1/x.ipynb", [])
    assert not (_workspace(hub, "alice") / "w1" / "x.ipynb").exists()


async def test_a_token_for_one_students_server_does_not_open_anothers(
    hub: hubproc.RunningHub,
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        bobs_tokens = ServerTokens(f"{hub.url}/hub/api", hub.user_token("bob"))
        token = await bobs_tokens.token(client, "bob", COURSE)
        assert token
        headers = {"Authorization": f"token {token}"}
        for op, body in (("hash", {"paths": ["w1/intro.ipynb"]}), ("copy", {})):
            url = f"{hub.url}/user/alice/{COURSE}/coursehub/workspace/{op}"
            refused = await client.post(url, json=body, headers=headers)
            assert refused.status_code in (302, 403), (op, refused.status_code)
        own = f"{hub.url}/user/bob/{COURSE}/coursehub/workspace/hash"
        assert (await client.post(own, json={"paths": []}, headers=headers)).status_code == 200
