"""A student fills the service's database through the tables they can write to: every
notebook event names a path, and the live class view keeps one row per (course, path,
student). Posting 100 000 made-up paths must not leave 100 000 rows behind.

The site turns the events rate limit off (an admin may): the table's own bound must
hold without it, since a limit on speed only slows the growth down."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123"}
COURSE = "alpha"
EVENTS = "/services/coursehub/api/events"
PATHS = 100_000
BATCH = 1000  # the API's largest batch


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo({"course.yaml": "title: Alpha\n"})
    site = start_hub(
        "student-tables",
        users=USERS,
        extra_yaml="events:\n  rate: 0\n",
        courses={COURSE: hubproc.Course(repo, ("alice",))},
    )
    login(site.url, "alice", USERS["alice"])  # hub users exist from their first sign-in
    return site


def _live_rows(hub: hubproc.RunningHub, user: str) -> list[str]:
    db = sqlite3.connect(f"file:{hub.data_dir / 'coursehub.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "select path from coursehub_live_notebooks where username = ? and course = ?",
            (user, COURSE),
        ).fetchall()
    finally:
        db.close()
    return [r[0] for r in rows]


def test_a_student_cannot_grow_the_live_table_without_bound(hub: hubproc.RunningHub) -> None:
    headers = {"Authorization": f"token {hub.user_token('alice')}"}
    with httpx.Client(base_url=hub.url, headers=headers, timeout=120) as client:
        for start in range(0, PATHS, BATCH):
            batch = [
                {"type": "notebook_opened", "course": COURSE, "path": f"junk/{n}.ipynb"}
                for n in range(start, start + BATCH)
            ]
            posted = client.post(EVENTS, json=batch)
            if posted.status_code != 201:
                break  # refused with a clear error: also a bound
        last = f"junk/{start + BATCH - 1}.ipynb"
    if posted.status_code != 201:
        assert posted.status_code in (400, 409, 413, 429), posted.text
        assert posted.json()["error"]["message"], posted.text
    rows = _live_rows(hub, "alice")
    assert len(rows) <= 10_000, f"{len(rows)} live rows for one student"
    if posted.status_code == 201:
        assert last in rows  # what the student did last is what the live view shows
