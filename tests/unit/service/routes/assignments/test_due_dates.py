"""Deadlines given with a time zone reach the student as the same moment, on SQLite and
on PostgreSQL: `coursehub assignment create/extend --due` with offsets on both sides of
midnight, the JSON API and the staff form posted with the browser's zone. Each is read
back from the database, from what the student's page shows, and from how late a
submission is counted.

The CLI runs as an administrator runs it; the service runs on the same database and
data with the hub faked (tests/helpers/fake_hub.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from sqlalchemy import text

from coursehub.core.times import parse_time
from coursehub.db.session import Database
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.service import cookies
from tests.helpers.assignments import nbgrader_source
from tests.helpers.coursedb import sqlite_url
from tests.helpers.fake_hub import API_TOKEN, PREFIX, bearer, client, service_on, user
from tests.helpers.gitrepo import make_repo
from tests.helpers.postgres import throwaway_database

NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}


def answer(n: int) -> dict[str, bytes]:
    """Files of one attempt; each test its own (the same files twice are one submission)."""
    return {"ps1.ipynb": b'{"cells": [], "metadata": {"n": %d}}' % n}


STAFF_PAGE = f"{PREFIX}course/algebra/staff/assignments/ps1"
STUDENT_PAGE = f"{PREFIX}course/algebra/assignments/ps1"
API = f"{PREFIX}api/courses/algebra/assignments/ps1/extensions"


def at_utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Site:
    """A site folder, its database and the `coursehub` command on it."""

    def __init__(self, base: Path, url: str) -> None:
        self.base, self.url, self.data = base, url, base / "data"
        (base / "coursehub.yaml").write_text(
            f"site:\n  data_dir: ./data\ndatabase:\n  url: {url}\n"
        )

    def cli(self, *args: str, tz: str = "UTC") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "coursehub.cli", "--config", str(self.base / "coursehub.yaml"),
             *args],
            capture_output=True, text=True, timeout=300, env={**os.environ, "TZ": tz},
        )  # fmt: skip

    def ok(self, *args: str, tz: str = "UTC") -> str:
        done = self.cli(*args, tz=tz)
        assert done.returncode == 0, done.stdout + done.stderr
        return " ".join(done.stdout.split())  # rich wraps long lines

    def store(self) -> tuple[Database, GradingStore]:
        db = Database(self.url)
        return db, GradingStore(db, GradingPaths(self.data))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """A course `algebra` with students sam, ana, lee, kim and eve, and ps1 due at
    2026-12-21 23:30 in UTC-8 (2026-12-22 07:30 UTC), made and released by the CLI."""
    base = tmp_path_factory.mktemp(f"due-{request.param}")
    urls = throwaway_database() if request.param == "postgresql" else iter([sqlite_url(base)])
    url = next(urls)
    site = Site(base, url)
    repo = make_repo(base / "repo", {"intro.ipynb": nbformat.writes(nbformat.v4.new_notebook())})
    site.ok("course", "add", "algebra", "--repo", str(repo))
    site.ok("course", "enrol", "algebra", "sam", "ana", "lee", "kim", "eve", "--role", "student")
    site.ok("course", "enrol", "algebra", "ines", "--role", "instructor")
    source = nbgrader_source(base / "src" / "ps1")
    made = site.ok(
        "assignment", "create", "algebra", "ps1", "--from", str(source),
        "--due", "2026-12-21T23:30-08:00",
    )  # fmt: skip
    assert "Due 2026-12-22 07:30 UTC (2026-12-21 23:30 -08:00)." in made
    site.ok("assignment", "release", "algebra", "ps1")
    yield site
    for _ in urls:  # drops the PostgreSQL database
        pass


def service(site: Site) -> Any:
    return service_on(site.url, site.data, {"tok-ines": user("ines", ("coursehub-instructors",))})


def stored_due(db: Database, table: str, username: str | None = None) -> datetime:
    """The due date as the database holds it, read without coursehub's column type."""
    where = f" WHERE username = '{username}'" if username else ""
    with db.session() as s:
        value = s.execute(text(f"SELECT due_at FROM coursehub_{table}{where}")).scalar_one()
    if isinstance(value, str):  # SQLite: text, written in UTC
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)


def test_cli_offsets_are_stored_as_the_moment_they_name(site: Site) -> None:
    db, store = site.store()
    try:
        ps1 = store.get("algebra", "ps1")
        assert ps1.due_at == at_utc(2026, 12, 22, 7, 30)
        assert stored_due(db, "assignments") == at_utc(2026, 12, 22, 7, 30)
        listed = site.ok("assignment", "list", "algebra")
        assert "2026-12-22 07:30 UTC" in listed

        # east of UTC, just after midnight: the evening before in UTC, so earlier than
        # the assignment's due date: allowed, and said
        said = site.ok("assignment", "extend", "algebra", "ps1", "sam", "--due",
                       "2026-12-22T00:30+09:00")  # fmt: skip
        assert "until 2026-12-21 15:30 UTC (2026-12-22 00:30 +09:00)" in said
        assert "before the assignment's due date (2026-12-22 07:30 UTC)" in said
        assert stored_due(db, "extensions", "sam") == at_utc(2026, 12, 21, 15, 30)
        # a plain time is read in this machine's zone, which the echo names
        said = site.ok("assignment", "extend", "algebra", "ps1", "sam", "--due",
                       "2026-12-22 23:00", tz="America/Los_Angeles")  # fmt: skip
        assert "until 2026-12-23 07:00 UTC (2026-12-22 23:00 PST, America/Los_Angeles: " in said
        assert "this machine's time zone" in said and "before" not in said
        assert stored_due(db, "extensions", "sam") == at_utc(2026, 12, 23, 7, 0)

        # lateness is measured in UTC moments: a minute after 07:30 UTC is a minute late
        ps1 = store.get("algebra", "ps1")
        ana = store.submit(ps1, "ana", answer(1), origin="upload", now=at_utc(2026, 12, 22, 7, 31))
        assert ana.submission.late_seconds == 60
        sam = store.submit(ps1, "sam", answer(2), origin="upload", now=at_utc(2026, 12, 23, 8, 0))
        assert sam.submission.late_seconds == 3600
        # an extension given after the submission decides whether it was late
        site.ok("assignment", "extend", "algebra", "ps1", "sam", "--due",
                "2026-12-23 09:00 Asia/Tokyo")  # fmt: skip
        assert store.submission(sam.submission.id).late_seconds == 8 * 3600  # 00:00 UTC
        site.ok("assignment", "extend", "algebra", "ps1", "sam", "--due",
                "2026-12-23T00:30-08:00")  # fmt: skip
        assert store.submission(sam.submission.id).late_seconds == 0
    finally:
        db.dispose()


async def test_the_student_sees_the_moment_in_utc_and_named(site: Site) -> None:
    site.ok("assignment", "extend", "algebra", "ps1", "sam", "--due", "2026-12-23T00:30-08:00")
    db, store = site.store()
    try:
        ps1 = store.get("algebra", "ps1")
        if not store.submissions(ps1.id, "sam"):
            store.submit(ps1, "sam", answer(3), origin="upload", now=at_utc(2026, 12, 23, 9, 30))
    finally:
        db.dispose()
    async with client(service(site)) as c:
        page = await c.get(STUDENT_PAGE, headers=bearer("tok-student"))
    assert page.status_code == 200
    due = re.search(r'<td id="due">(.*?)</td>', page.text, re.S).group(1)
    # the extension, 2026-12-23 08:30 UTC, as a <time> the page's script shows in the
    # viewer's zone; without the script it reads in UTC, with UTC named
    assert '<time datetime="2026-12-23T08:30:00Z" data-local>2026-12-23 08:30 UTC</time>' in due
    assert "extended for you" in due and "2026-12-22T07:30:00Z" in due
    assert "static/times.js" in page.text


async def _signed_in(app: Any, token: str) -> tuple[httpx.AsyncClient, str]:
    c = client(app)
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", token)
    c.cookies.set("service-coursehub", signed)
    page = await c.get(STAFF_PAGE, headers=NAVIGATE)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    return c, xsrf.group(1) if xsrf else ""


async def test_the_staff_form_reads_the_time_in_the_browsers_zone(site: Site) -> None:
    app = service(site)
    c, xsrf = await _signed_in(app, "tok-ines")
    db, store = site.store()
    try:
        page = await c.get(STAFF_PAGE, headers=NAVIGATE)
        form = re.search(r'<section class="card" id="extension">.*?</section>', page.text, re.S)
        assert form is not None
        # without a script the form reads the server's zone, and says which; the
        # field is filled with the due date (in that zone, and in UTC for the script)
        assert "in UTC, the server's time zone" in form.group(0)
        assert 'name="zone" value="" data-browser-zone' in form.group(0)
        assert 'value="2026-12-22T07:30" data-utc="2026-12-22T07:30:00Z"' in form.group(0)

        async def extend(due: str, zone: str) -> httpx.Response:
            data = {"_xsrf": xsrf, "username": "kim", "due": due, "zone": zone}
            return await c.post(f"{STAFF_PAGE}/extension", data=data, headers=NAVIGATE)

        # a staff member in Tokyo gives until 00:30 on the 23rd, their time
        done = await extend("2026-12-23T00:30", "Asia/Tokyo")
        assert done.status_code == 303 and done.headers["location"].endswith("?extended=1")
        assert stored_due(db, "extensions", "kim") == at_utc(2026, 12, 22, 15, 30)
        # the same typed time from Los Angeles is another moment
        await extend("2026-12-23T00:30", "America/Los_Angeles")
        assert stored_due(db, "extensions", "kim") == at_utc(2026, 12, 23, 8, 30)
        # before the assignment's due date: saved, and said
        early = await extend("2026-12-21T23:00", "America/Los_Angeles")
        assert early.headers["location"].endswith("?extended_early=1")
        shown = await c.get(early.headers["location"], headers=NAVIGATE)
        assert "earlier than the assignment&#39;s due date" in shown.text
        assert stored_due(db, "extensions", "kim") == at_utc(2026, 12, 22, 7, 0)
        # no script: the server's zone (UTC here)
        await extend("2026-12-23T00:30", "")
        assert stored_due(db, "extensions", "kim") == at_utc(2026, 12, 23, 0, 30)
        # a time the clocks skip is refused, saying so; nothing is changed
        gap = await extend("2026-03-29T02:30", "Europe/Paris")
        assert gap.status_code == 400
        assert "does not exist in Europe/Paris" in gap.text and "+01:00" in gap.text
        assert stored_due(db, "extensions", "kim") == at_utc(2026, 12, 23, 0, 30)
        ps1 = store.get("algebra", "ps1")
        assert store.due_for(ps1, "kim") == at_utc(2026, 12, 23, 0, 30)
    finally:
        await c.aclose()
        db.dispose()


async def test_the_api_takes_offsets_and_zone_names(site: Site) -> None:
    db, _store = site.store()
    try:
        async with client(service(site)) as c:

            async def extend(**body: str) -> httpx.Response:
                return await c.post(
                    API, json={"username": "lee", **body}, headers=bearer("tok-ines")
                )

            done = await extend(due_at="2026-12-21T23:30-08:00")
            assert done.status_code == 200, done.text
            assert done.json() == {"username": "lee", "due_at": "2026-12-22T07:30:00+00:00"}
            assert stored_due(db, "extensions", "lee") == at_utc(2026, 12, 22, 7, 30)
            named = await extend(due_at="2026-12-22 00:30 Asia/Tokyo")
            assert named.json()["due_at"] == "2026-12-21T15:30:00+00:00"
            assert named.json()["warning"] == "earlier than the assignment's due date"
            plain = await extend(due_at="2026-12-22T09:00", time_zone="Europe/Paris")
            assert plain.json()["due_at"] == "2026-12-22T08:00:00+00:00"
            for body, says in (
                ({"due_at": "2026-12-22T09:00"}, "no time zone"),
                ({"due_at": "2026-11-01T01:30", "time_zone": "America/New_York"}, "twice"),
                ({"due_at": "2026-12-22T09:00", "time_zone": "Mars/Base"}, "not a zone"),
                ({"due_at": "next friday"}, "is not a date and time"),
            ):
                refused = await extend(**body)
                assert refused.status_code == 400 and says in refused.text, refused.text
            assert stored_due(db, "extensions", "lee") == at_utc(2026, 12, 22, 8, 0)
            listed = await c.get(
                f"{PREFIX}api/courses/algebra/assignments", headers=bearer("tok-student")
            )
            assert listed.json()["assignments"][0]["due_at"] == "2026-12-22T07:30:00+00:00"
    finally:
        db.dispose()


def test_cli_refuses_a_time_the_clocks_skip(site: Site) -> None:
    done = site.cli("assignment", "extend", "algebra", "ps1", "ana", "--due",
                    "2026-03-29 02:30", tz="Europe/Paris")  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "does not exist in Europe/Paris" in done.stderr
    done = site.cli("assignment", "extend", "algebra", "ps1", "ana", "--due", "2026-12-21")
    assert done.returncode != 0 and "has no time of day" in done.stderr


def test_a_corrected_due_date_measures_lateness_again(site: Site) -> None:
    db, store = site.store()
    ps1 = store.get("algebra", "ps1")
    try:
        eve = store.submit(ps1, "eve", answer(4), origin="upload", now=at_utc(2026, 12, 22, 8, 0))
        assert eve.submission.late_seconds == 30 * 60
        # as the staff pages change it: an aware moment, any offset
        store.update_assignment(ps1.id, due_at=parse_time("2026-12-22T09:00+01:00"))
        assert store.submission(eve.submission.id).late_seconds == 0
        assert stored_due(db, "assignments") == at_utc(2026, 12, 22, 8, 0)
        store.update_assignment(ps1.id, due_at=at_utc(2026, 12, 22, 7, 30))
        assert store.submission(eve.submission.id).late_seconds == 30 * 60
    finally:
        store.update_assignment(ps1.id, due_at=at_utc(2026, 12, 22, 7, 30))  # as the others expect
        db.dispose()
