"""A student saves a notebook when their disk is full: JupyterLab must show the save
failing, and the version saved before must still be there, whole (jupyter_server's
atomic writing, which coursehub leaves on: FileContentsManager.use_atomic_writing).

The student's course workspace is a small tmpfs (size=) mounted over it after their
server started, so "full" is real for that filesystem and nothing else is filled."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123"}
COURSE = "alpha"


def _notebook(text: str) -> dict:
    cell = {"cell_type": "markdown", "id": "c1", "metadata": {}, "source": text}
    return {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo({"course.yaml": "title: Alpha\n"})
    return start_hub(
        "disk-full",
        outside_tmp=True,
        users=USERS,
        courses={COURSE: hubproc.Course(repo, ("alice",))},
    )


@pytest.fixture
def small_workspace(hub: hubproc.RunningHub) -> Iterator[Path]:
    """alice's running course server, its workspace now a 1 MiB filesystem of hers."""
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server=COURSE)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    account = pwd.getpwnam(hub.unix_name("alice"))
    workspace = Path(account.pw_dir) / "courses" / COURSE
    assert workspace.is_dir()
    options = f"size=1m,mode=0700,uid={account.pw_uid},gid={account.pw_gid}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(workspace)], check=True)
    try:
        yield workspace
    finally:
        subprocess.run(["umount", "-l", str(workspace)], check=False)


def test_a_save_on_a_full_disk_fails_visibly_and_keeps_the_old_file(
    hub: hubproc.RunningHub, small_workspace: Path
) -> None:
    url = f"{hub.url}/user/alice/{COURSE}/api/contents/work.ipynb"
    headers = {"Authorization": f"token {hub.user_token('alice')}"}

    def save(text: str) -> httpx.Response:
        body = {"type": "notebook", "format": "json", "content": _notebook(text)}
        return httpx.put(url, headers=headers, json=body, timeout=60)

    first = save("# My work, version one")
    assert first.status_code in (200, 201), first.text
    saved = (small_workspace / "work.ipynb").read_bytes()
    # Fill the filesystem to the last byte (as root; the student could do it too).
    fd = os.open(small_workspace / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass  # ENOSPC: full
    finally:
        os.close(fd)
    second = save("# Version two, much longer\n\n" + "x" * 200_000)
    assert second.status_code >= 500, second.text  # the save failed, and says so
    assert "No space left" in second.text or "saving" in second.text.lower(), second.text
    # The old file is untouched, on disk and as JupyterLab reads it back.
    assert (small_workspace / "work.ipynb").read_bytes() == saved
    back = httpx.get(url, headers=headers, timeout=60)
    assert back.status_code == 200, back.text
    assert back.json()["content"]["cells"][0]["source"] == "# My work, version one"
    json.loads(saved)
