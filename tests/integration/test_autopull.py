"""Courses follow their repositories by themselves; archived courses stay as they are."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import hubproc

pytestmark = [pytest.mark.integration, pytest.mark.root]

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x",
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True)


def test_active_courses_are_pulled_periodically_archived_ones_are_not(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    repo = Path(f"/tmp/coursehub-test-repo-{secrets.token_hex(4)}")
    repo.mkdir()
    (repo / "intro.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    site = hubproc.write_site(
        tmp_path_factory.mktemp("autopull"),
        users={"zoe": "zoe-pass-123"},
        extra_yaml="courses:\n  autopull: 2s\n",
    )
    try:
        hubproc.start(site)
        for args in (
            ("course", "add", "live", "--repo", str(repo)),
            ("course", "add", "old", "--repo", str(repo)),
            ("course", "archive", "old"),
        ):
            done = site.cli(*args)
            assert done.returncode == 0, done.stderr
        (repo / "week2.ipynb").write_text((repo / "intro.ipynb").read_text())
        _git(repo, "add", ".")
        _git(repo, "commit", "-qm", "week 2")
        live = site.data_dir / "courses" / "live" / "repo" / "week2.ipynb"
        deadline = time.monotonic() + 60
        while not live.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert live.exists(), site.log_tail()
        assert not (site.data_dir / "courses" / "old" / "repo" / "week2.ipynb").exists()
    finally:
        hubproc.stop(site)
        shutil.rmtree(repo, ignore_errors=True)
