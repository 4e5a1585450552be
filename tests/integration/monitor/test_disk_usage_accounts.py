"""Disk use of real Unix accounts, made the way the local backend makes them (0700
homes owned by each student): the service, running as root, reads every home, and a
link a student plants towards another student's home is not followed. No hub is
needed: the monitor's recorder reads homes and the database only.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from coursehub.courses.store import CourseStore
from coursehub.hub.spawners import unix_accounts
from coursehub.monitor.disk_usage import DiskMeter, home_finder, read_usage
from tests.helpers.gitrepo import make_repo
from tests.unit.monitor.test_disk_usage import T0

pytestmark = [pytest.mark.integration, pytest.mark.root]

PREFIX = "ch-"


@pytest.fixture
def students(tmp_path: Path) -> Iterator[tuple[str, str]]:
    tag = secrets.token_hex(3)
    names = (f"du{tag}a", f"du{tag}b")
    root = tmp_path / "homes"
    try:
        for name in names:
            asyncio.run(unix_accounts.ensure_unix_account(PREFIX + name, root, "/bin/sh"))
        yield names
    finally:
        for name in names:
            asyncio.run(unix_accounts.delete_unix_account(PREFIX + name, remove_home=True))


def _as_student(name: str, script: str) -> None:
    entry = unix_accounts.lookup(PREFIX + name)
    assert entry is not None
    subprocess.run(
        [sys.executable, "-I", "-c", script],
        check=True,
        user=entry.pw_uid,
        group=entry.pw_gid,
        extra_groups=[],
        cwd=entry.pw_dir,
        umask=0o077,
    )


def test_root_measures_private_homes_and_follows_no_planted_link(
    tmp_path: Path, students: tuple[str, str], course_store: CourseStore
) -> None:
    a, b = students
    home_b = unix_accounts.lookup(PREFIX + b).pw_dir
    _as_student(
        a,
        "import os\n"
        "os.makedirs('courses/algebra', exist_ok=True)\n"
        "open('courses/algebra/data.bin', 'wb').write(os.urandom(300 * 1024))\n"
        f"os.symlink({home_b!r}, 'classmate')\n",
    )
    _as_student(b, "import os\nopen('big.bin', 'wb').write(os.urandom(2 * 1024 * 1024))\n")
    assert os.stat(unix_accounts.lookup(PREFIX + a).pw_dir).st_mode & 0o777 == 0o700

    notebook = json.dumps({"cells": [], "metadata": {}, "nbformat": 4})
    repo = make_repo(tmp_path / "repo", {"one.ipynb": notebook})
    db = course_store.db
    course_store.add("algebra", str(repo))
    course_store.enrol_many("algebra", [a, b, "never-signed-in"])

    settings = SimpleNamespace(spawn_backend="local", user_prefix=PREFIX, demo_home_root="")
    meter = DiskMeter(db, home_finder(settings), quota=1024 * 1024)
    meter(None, T0)

    usage = read_usage(db, [a, b, "never-signed-in"], "algebra")
    assert set(usage) == {a, b}  # no account, no home, no figure
    assert usage[a].course is not None and 300 * 1024 <= usage[a].course < 400 * 1024
    assert usage[a].home < 1024 * 1024 and not usage[a].over(1024 * 1024)  # b's file not counted
    assert usage[b].home >= 2 * 1024 * 1024 and usage[b].over(1024 * 1024)
    assert usage[b].course is None  # b never opened the course
    db.dispose()
