"""Courses follow their repositories by themselves; archived courses stay as they are."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import hubproc
from tests.helpers.gitrepo import EMPTY_NOTEBOOK, commit_all

pytestmark = [pytest.mark.integration, pytest.mark.root]


def test_active_courses_are_pulled_periodically_archived_ones_are_not(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> None:
    repo = make_course_repo({"intro.ipynb": EMPTY_NOTEBOOK})
    site = start_hub(
        "autopull",
        users={"zoe": "zoe-pass-123"},
        extra_yaml="courses:\n  autopull: 2s\n",
        courses={"live": hubproc.Course(repo), "old": hubproc.Course(repo)},
        then=[("course", "archive", "old")],
    )
    (repo / "week2.ipynb").write_text((repo / "intro.ipynb").read_text())
    commit_all(repo, "week 2")
    live = site.data_dir / "courses" / "live" / "repo" / "week2.ipynb"
    deadline = time.monotonic() + 60
    while not live.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert live.exists(), site.log_tail()
    assert not (site.data_dir / "courses" / "old" / "repo" / "week2.ipynb").exists()
