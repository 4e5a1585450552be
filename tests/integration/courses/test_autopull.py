"""Courses follow their repositories by themselves; archived courses stay as they are."""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

import pytest

from tests.helpers import hubproc
from tests.helpers.gitrepo import commit_all

pytestmark = [pytest.mark.integration, pytest.mark.root]


def test_active_courses_are_pulled_periodically_archived_ones_are_not(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    repo = Path(f"/tmp/coursehub-test-repo-{secrets.token_hex(4)}")
    repo.mkdir()
    (repo / "intro.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    )
    commit_all(repo, "first")
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
        commit_all(repo, "week 2")
        live = site.data_dir / "courses" / "live" / "repo" / "week2.ipynb"
        deadline = time.monotonic() + 60
        while not live.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert live.exists(), site.log_tail()
        assert not (site.data_dir / "courses" / "old" / "repo" / "week2.ipynb").exists()
    finally:
        hubproc.stop(site)
        shutil.rmtree(repo, ignore_errors=True)
