"""The events API: who may post and read what, and what bad input gets.

The hub is faked (tokens → users, see tests/helpers/fake_hub.py); the database is a
real SQLite file with real course and enrolment rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coursehub.db import models
from coursehub.db.session import Database
from coursehub.events.store import EventStore
from tests.helpers.fake_hub import PREFIX, assert_error, bearer, client, service_on, user

API = PREFIX + "api/events"


@pytest.fixture
def site(db: Database, tmp_path: Path):  # noqa: ANN201
    with db.session() as s:
        for name in ("algebra", "physics"):
            s.add(models.Course(name=name, repo_url="/x", branch="main", last_pull_output=""))
        s.add(models.Enrolment(course="algebra", username="sam", role="student"))
        s.add(models.Enrolment(course="algebra", username="ines", role="instructor"))
        s.add(models.Enrolment(course="physics", username="tara", role="ta"))
    app = service_on(
        db.url,
        tmp_path / "data",
        {"tok-tara": user("tara", ("coursehub-tas",))},
        COURSEHUB_EVENTS_RATE="5",
        COURSEHUB_EVENTS_BURST="20",
    )
    return app, db


def saved(**extra) -> dict:
    return {"type": "notebook_saved", "filename": "intro.ipynb", "path": "w1/intro.ipynb"} | extra


async def test_a_student_posts_their_own_events_and_staff_read_them(site) -> None:
    app, _db = site
    async with client(app) as c:
        r = await c.post(
            API, json=saved(course="algebra", data={"sha256": "ab"}), headers=bearer("tok-student")
        )
        assert r.status_code == 201, r.text
        first = r.json()["id"]
        batch = [
            saved(
                course="algebra",
                type="cell_executed",
                data={"status": "error", "error": "NameError"},
            )
        ] * 3
        r = await c.post(API, json=batch, headers=bearer("tok-student"))
        assert r.status_code == 201 and len(r.json()["ids"]) == 3 and r.json()["ids"][0] > first

        r = await c.get(API, params={"course": "algebra"}, headers=bearer("tok-inst"))
        assert r.status_code == 200
        events = r.json()["events"]
        assert [e["user"] for e in events] == ["sam"] * 4
        assert events[0]["data"] == {"sha256": "ab"} and events[0]["path"] == "w1/intro.ipynb"
        # filters and pages
        r = await c.get(
            API,
            params={"course": "algebra", "type": "cell_executed", "limit": 2},
            headers=bearer("tok-inst"),
        )
        page = r.json()
        assert len(page["events"]) == 2 and page["next"] == page["events"][-1]["id"]
        r = await c.get(
            API,
            params={"course": "algebra", "type": "cell_executed", "after": page["next"]},
            headers=bearer("tok-inst"),
        )
        assert len(r.json()["events"]) == 1 and r.json()["next"] is None
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        r = await c.get(
            API, params={"course": "algebra", "since": future}, headers=bearer("tok-inst")
        )
        assert r.json()["events"] == []
        # admins read everything without naming a course
        r = await c.get(API, headers=bearer("tok-admin"))
        assert len(r.json()["events"]) == 4


async def test_nobody_posts_for_someone_else_or_reads_another_course(site) -> None:
    app, _db = site
    async with client(app) as c:
        r = await c.post(API, json=saved(user="ines"), headers=bearer("tok-student"))
        assert_error(r, 403, "forbidden")
        assert "your own events" in r.json()["error"]["message"]
        r = await c.post(API, json=saved(course="physics"), headers=bearer("tok-student"))
        assert_error(r, 404, "not_found")  # sam is not in physics: as if it did not exist
        # the instructor of algebra cannot read physics; the TA of physics cannot read algebra
        assert (
            await c.get(API, params={"course": "physics"}, headers=bearer("tok-inst"))
        ).status_code == 404
        assert (
            await c.get(API, params={"course": "algebra"}, headers=bearer("tok-tara"))
        ).status_code == 404
        assert (
            await c.get(API, params={"course": "physics"}, headers=bearer("tok-tara"))
        ).status_code == 200
        # students read nothing, not even their own course; staff must name a course
        assert (
            await c.get(API, params={"course": "algebra"}, headers=bearer("tok-student"))
        ).status_code == 403
        assert (await c.get(API, headers=bearer("tok-inst"))).status_code == 403
        assert_error(await c.post(API, json=saved()), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "list of 1 to"),
        (b"42", "expected a JSON object"),
        (json.dumps({"type": "rm -rf"}).encode(), "unknown event type"),
        (json.dumps(saved(extra_field=1)).encode(), "extra_field"),
        (json.dumps(saved(timestamp="2001-01-01T00:00:00Z")).encode(), "within the last 7 days"),
        (json.dumps(saved(data={"x": "y" * 5000})).encode(), "larger than 4096"),
        (json.dumps(saved(path="p" * 2000)).encode(), "path"),
    ],
)
async def test_bad_events_are_refused_with_the_reason_and_nothing_stored(
    site, body, needle
) -> None:
    app, db = site
    async with client(app) as c:
        r = await c.post(
            API, content=body, headers=bearer("tok-student") | {"content-type": "application/json"}
        )
    assert_error(r, 400, "bad_request")
    assert needle in r.json()["error"]["message"], r.json()
    assert EventStore(db).query(_all(), 10) == []


def _all():  # noqa: ANN202
    from coursehub.events.store import EventFilter

    return EventFilter()


async def test_oversized_bodies_and_floods_are_refused(site) -> None:
    app, db = site
    async with client(app) as c:
        huge = json.dumps([saved()] * 5000).encode()
        r = await c.post(API, content=huge, headers=bearer("tok-student"))
        assert_error(r, 413, "too_large")

        async def chunks():  # no Content-Length: counted while it arrives
            for _ in range(100):
                yield b" " * 4096

        r = await c.post(API, content=chunks(), headers=bearer("tok-student"))
        assert_error(r, 413, "too_large")

        # burst 20, 5 per second: the 21st event at once is refused with Retry-After
        r = await c.post(API, json=[saved()] * 20, headers=bearer("tok-student"))
        assert r.status_code == 201
        r = await c.post(API, json=saved(), headers=bearer("tok-student"))
        assert_error(r, 429, "too_many_requests")
        assert int(r.headers["retry-after"]) >= 1
        # another student is not slowed down by the first
        r = await c.post(API, json=saved(course="physics"), headers=bearer("tok-tara"))
        assert r.status_code == 201
    assert len(EventStore(db).query(_all(), 100)) == 21


def test_purge_keeps_storage_bounded(any_db: Database) -> None:
    store = EventStore(any_db)
    from coursehub.events.schema import EventIn

    ids = store.add([EventIn(type="kernel_started")] * 50, "sam")
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert store.purge(datetime.now(UTC) - timedelta(days=1), max_rows=30) == 20
    left = store.query(_all(), 100)
    assert len(left) == 30 and left[0].id == ids[20]  # the oldest went first
    assert store.purge(datetime.now(UTC) + timedelta(seconds=1), max_rows=30) == 30
