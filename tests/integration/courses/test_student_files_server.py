"""Course files placed by the student's own server (courses/student_files.ServerFiles
with the server extension student/workspace): the way links, reset and share work on
the Docker and Kubernetes backends, where the service has no Unix account to act as.

Neither Docker nor a Kubernetes cluster is available here, so the server is a real
course server of the local backend: a real hub, a real student account, a real
jupyter_server with coursehub's extension, reached through the real proxy with a token
the real hub issued for that one server. What differs in a container is only where the
server sees the course (COURSEHUB_COURSE_DIR, set by each spawner: see
tests/unit/hub/spawners) and whose uid the server has. The student's attacks on this
way: tests/security/test_student_files_attacks.py.
"""

from __future__ import annotations

import json
import os
import pwd
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


def _notebook(text: str) -> str:
    cell = {"cell_type": "markdown", "id": "c1", "metadata": {}, "source": text}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo(
        {
            "w1/intro.ipynb": _notebook("# Course version"),
            "data/table.csv": "a,b\n1,2\n",
            "course.yaml": "title: Data\nmappings:\n  - source: data\n    target: data\n",
        }
    )
    site = start_hub(
        "student-files", users=USERS, courses={COURSE: hubproc.Course(repo, ("alice", "bob"))}
    )
    alice = login(site.url, "alice", USERS["alice"])
    events = start_server(alice, "alice", server=COURSE)
    assert events[-1].get("ready"), events
    return site


@pytest.fixture
async def files(hub: hubproc.RunningHub) -> AsyncIterator[ServerFiles]:
    """The service's way to the student's server. The token source is the hub's real
    API; it issues alice's single-server token with alice's own token here, where the
    service uses its own (its role may issue tokens for users)."""
    api = f"{hub.url}/hub/api"
    async with httpx.AsyncClient(timeout=60) as client:
        tokens = ServerTokens(api, hub.user_token("alice"))
        yield ServerFiles(proxy_url=hub.url, base_url="/", tokens=tokens, client=client)


def _workspace(hub: hubproc.RunningHub, user: str) -> Path:
    return hub.home_root / hub.unix_name(user) / "courses" / COURSE


def _uid(hub: hubproc.RunningHub, user: str) -> int:
    return pwd.getpwnam(hub.unix_name(user)).pw_uid


async def test_the_students_server_copies_resets_and_reads_as_the_student(
    hub: hubproc.RunningHub, files: ServerFiles
) -> None:
    workspace = _workspace(hub, "alice")
    mappings = [("data", "data")]
    copied = await files.copy_notebook(
        "alice", COURSE, "w1/intro.ipynb", "w1/intro.ipynb", mappings
    )
    copy = workspace / "w1" / "intro.ipynb"
    assert copied is not None and copy.stat().st_uid == _uid(hub, "alice")
    assert "Course version" in copy.read_text()
    link = workspace / "w1" / "data"
    assert link.is_symlink() and (link / "table.csv").read_text().startswith("a,b")
    assert os.readlink(link) == str(hub.data_dir / "courses" / COURSE / "repo" / "data")
    # a second copy never replaces the student's file
    copy.write_text(_notebook("# Mine"))
    again = await files.copy_notebook("alice", COURSE, "w1/intro.ipynb", "w1/intro.ipynb", [])
    assert again is None and "Mine" in copy.read_text()

    hashes = await files.hash_files("alice", COURSE, ["w1/intro.ipynb", "w1/missing.ipynb"])
    assert hashes["w1/missing.ipynb"] is None and hashes["w1/intro.ipynb"] not in (None, copied)
    assert b"Mine" in await files.read_notebook("alice", COURSE, "w1/intro.ipynb")

    reset = await files.reset_notebook(
        "alice", COURSE, "w1/intro.ipynb", "w1/intro.ipynb", "20261207-120000"
    )
    assert reset.sha256 == copied and reset.kept_as == "intro.mine-20261207-120000.ipynb"
    assert "Course version" in copy.read_text()
    kept = workspace / "w1" / reset.kept_as
    assert "Mine" in kept.read_text() and kept.stat().st_uid == _uid(hub, "alice")


async def test_a_server_that_is_not_running_gets_a_clear_message(
    hub: hubproc.RunningHub, files: ServerFiles
) -> None:
    # bob signed in but never started his course server; the service asks on his behalf
    login(hub.url, "bob", USERS["bob"])
    api = f"{hub.url}/hub/api"
    async with httpx.AsyncClient(timeout=60) as client:
        bobs = ServerFiles(hub.url, "/", ServerTokens(api, hub.user_token("bob")), client)
        with pytest.raises(WorkspaceError, match="not running"):
            await bobs.copy_notebook("bob", COURSE, "w1/intro.ipynb", "w1/intro.ipynb", [])
    assert not (_workspace(hub, "bob") / "w1").exists()
