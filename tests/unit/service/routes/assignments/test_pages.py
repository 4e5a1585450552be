"""The assignment pages below the browser: who sees which page, what they show, that
hostile text stays text, and that forms need the page's XSRF field.

The hub is faked (tests/helpers/fake_hub.py); the course, the assignment (made by
nbgrader from a real source notebook), the database and the stored submission are
real. Grading itself is faked by finishing a queued grading with known results; the
real grading runs in tests/integration/grading/test_assignment_pages_browser.py.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nbformat
import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.store import CourseStore
from coursehub.grading import lifecycle
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.service import cookies
from tests.helpers.assignments import nbgrader_source
from tests.helpers.coursedb import add_courses, open_database, sqlite_url
from tests.helpers.fake_hub import API_TOKEN, PREFIX, bearer, client, service_on, user
from tests.helpers.gitrepo import make_repo

HOSTILE = "<script>alert('t')</script> & <b>co</b>"
STAFF_PATHS = (
    "staff/assignments",
    "staff/assignments/ps1",
    "staff/assignments/ps1/students/sam",
    "staff/assignments/draft",
)
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A course with an assignment made by nbgrader (slow), copied for each test."""
    root = tmp_path_factory.mktemp("assignment-site")
    repo = make_repo(root / "repo", {"intro.ipynb": nbformat.writes(nbformat.v4.new_notebook())})
    data = root / "data"
    db = open_database(sqlite_url(root, "c.sqlite"))
    members = {
        "algebra": {"sam": "student", "ines": "instructor", "tom": "ta"},
        "physics": {"tara": "instructor"},
    }
    add_courses(CourseStore(db, DataLayout(data)), repo, members)
    grading = GradingStore(db, GradingPaths(data))
    due = datetime.now(UTC) - timedelta(hours=2)
    source = nbgrader_source(root / "src" / "ps1")
    ps1 = lifecycle.create(grading, "algebra", "ps1", source, title=HOSTILE, due_at=due)
    lifecycle.publish(grading, ps1)
    lifecycle.create(grading, "algebra", "draft", source, title="Draft")
    ps1 = grading.get("algebra", "ps1")
    answer = {"ps1.ipynb": b'{"cells": []}'}
    sub = grading.submit(ps1, "sam", answer, origin="upload").submission
    grading.enqueue([sub.id], "test")
    gid = grading.claim().id
    results = {
        "test_square": {"points": 2, "max": 2, "passed": True, "message": "<img src=x>"},
        "explain": {"points": None, "max": 1, "kind": "manual", "message": ""},
    }
    grading.finish(
        gid, state="done", total=2, max_total=3, questions=json.dumps(results), output="<i>o</i>"
    )
    grading.set_manual(sub.id, "explain", None, "Say <why>", "ines")
    db.engine.dispose()
    return root, sub.id


@pytest.fixture
def site(made: tuple[Path, int], tmp_path: Path):  # noqa: ANN201
    root, sid = made
    for part in ("data", "c.sqlite"):
        copy = shutil.copytree if (root / part).is_dir() else shutil.copy2
        copy(root / part, tmp_path / part)
    app = service_on(
        sqlite_url(tmp_path, "c.sqlite"),
        tmp_path / "data",
        {
            "tok-tom": user("tom", ("coursehub-students",)),
            "tok-tara": user("tara", ("coursehub-instructors",)),
        },
    )
    app.state.test_submission = sid
    return app


def _page(path: str) -> str:
    return f"{PREFIX}course/algebra/{path}"


async def test_students_see_released_assignments_with_their_points_and_comments(site) -> None:  # noqa: ANN001
    async with client(site) as c:
        listing = await c.get(_page("assignments"), headers=bearer("tok-student"))
        assert listing.status_code == 200
        assert "ps1" in listing.text and "draft" not in listing.text.lower()
        assert "<script>alert" not in listing.text and "&lt;script&gt;" in listing.text
        assert "2 / 3" in listing.text and "more to be graded by hand" in listing.text
        mine = await c.get(_page("assignments/ps1"), headers=bearer("tok-student"))
        assert mine.status_code == 200
        text = mine.text
        assert 'id="attempt-1"' in text and "late by 2 h" in text
        assert "Say &lt;why&gt;" in text and "&lt;img src=x&gt;" in text
        assert "to be graded" in text  # the manual question
        assert "<i>o</i>" not in text and "Grader output" not in text  # staff only
        key = re.search(r'name="key" value="([^"]+)"', text)
        assert key and len(key.group(1)) >= 24
        again = await c.get(_page("assignments/ps1"), headers=bearer("tok-student"))
        assert key.group(1) not in again.text  # a new key per page shown
        hidden = await c.get(_page("assignments/draft"), headers=bearer("tok-student"))
        assert hidden.status_code == 404


async def test_students_get_403_and_other_courses_404_on_staff_pages(site) -> None:  # noqa: ANN001
    # course_access: members are refused for their role, outsiders as for no course
    async with client(site) as c:
        for token, status in (("tok-student", 403), ("tok-tara", 404)):
            for path in STAFF_PATHS:
                got = await c.get(_page(path), headers=bearer(token))
                assert got.status_code == status, (token, path)
                assert "Say" not in got.text


async def test_tas_grade_but_only_instructors_create_release_and_extend(site) -> None:  # noqa: ANN001
    async with client(site) as c:
        pages = {}
        for token in ("tok-tom", "tok-inst"):
            book = await c.get(_page("staff/assignments/ps1"), headers=bearer(token))
            assert book.status_code == 200, token
            pages[token] = book.text
            listing = await c.get(_page("staff/assignments"), headers=bearer(token))
            assert ("New assignment" in listing.text) == (token == "tok-inst")
        for token, text in pages.items():
            instructor = token == "tok-inst"
            assert ('id="release"' in text) == instructor
            assert ('id="extension"' in text) == instructor
            assert 'id="autograde"' in text and "gradebook.csv" in text
            row = re.search(r'<tr data-student="sam">.*?</tr>', text, re.S).group(0)
            assert 'data-question="test_square" data-state="auto">2</td>' in row
            waiting = r'data-question="explain" data-state="awaiting grading">[^/]*to grade<'
            assert re.search(waiting, row)
            assert "needs grading" in row and "to grade by hand" in row
            assert "&lt;script&gt;" in text and "<script>alert" not in text
        grade = await c.get(_page("staff/assignments/ps1/students/sam"), headers=bearer("tok-tom"))
        assert 'name="points:explain"' in grade.text and "Say &lt;why&gt;</textarea>" in grade.text
        assert "&lt;i&gt;o&lt;/i&gt;" in grade.text  # the grader's output, for staff, as text


async def _signed_in(site, token: str) -> tuple[httpx.AsyncClient, str]:  # noqa: ANN001
    c = client(site)
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", token)
    c.cookies.set("service-coursehub", signed)
    page = await c.get(_page("staff/assignments/ps1"), headers=NAVIGATE)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    return c, xsrf.group(1) if xsrf else ""


async def test_forms_need_the_xsrf_field_and_the_right_role(site) -> None:  # noqa: ANN001
    url = _page("staff/assignments/ps1")
    sid = site.state.test_submission
    c, xsrf = await _signed_in(site, "tok-inst")
    try:
        assert xsrf
        no_field = await c.post(f"{url}/release", data={}, headers=NAVIGATE)
        assert no_field.status_code == 403 and "Reload the page" in no_field.text
        scripted = await c.post(
            f"{url}/release",
            data={"_xsrf": xsrf},
            headers={"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"},
        )
        assert scripted.status_code == 403
        # the upload form has the same checks: without the field nothing is made
        files = {"files": ("x.ipynb", b"{}", "application/json")}
        upload = await c.post(
            _page("staff/assignments"), data={"name": "x"}, files=files, headers=NAVIGATE
        )
        assert upload.status_code == 403
        empty = await c.post(
            _page("staff/assignments"), data={"_xsrf": xsrf, "name": "x"}, headers=NAVIGATE
        )
        assert empty.status_code == 400 and "upload" in empty.text
        # bad points save nothing, good ones save and show
        form = {"_xsrf": xsrf, "submission": str(sid), "points:explain": "5", "comment:explain": ""}
        bad = await c.post(f"{url}/students/sam/grade", data=form, headers=NAVIGATE)
        assert bad.status_code == 400 and "between 0 and 1" in bad.text
        form.update({"points:explain": "1", "comment:explain": "Right."})
        good = await c.post(f"{url}/students/sam/grade", data=form, headers=NAVIGATE)
        assert good.status_code == 303 and good.headers["location"].endswith("?saved=1")
        stale = {**form, "submission": str(sid + 100)}
        refused = await c.post(f"{url}/students/sam/grade", data=stale, headers=NAVIGATE)
        assert refused.status_code == 409
        ext = {"_xsrf": xsrf, "username": "nobody", "due": "2030-01-01T10:00"}
        assert (await c.post(f"{url}/extension", data=ext, headers=NAVIGATE)).status_code == 400
        ext["username"] = "sam"
        done = await c.post(f"{url}/extension", data=ext, headers=NAVIGATE)
        assert done.status_code == 303
    finally:
        await c.aclose()
    async with client(site) as s:
        # the JSON API refuses extensions for non-students as the form does
        api = f"{PREFIX}api/courses/algebra/assignments/ps1/extensions"
        body = {"username": "nobody", "due_at": "2030-01-01T10:00+00:00"}
        refused = await s.post(api, json=body, headers=bearer("tok-inst"))
        assert refused.status_code == 400 and "not a student" in refused.text
        mine = await s.get(_page("assignments/ps1"), headers=bearer("tok-student"))
        assert "Right." in mine.text and "3 / 3 points" in mine.text
        assert "extended for you" in mine.text and "2030-01-01" in mine.text
    c, xsrf = await _signed_in(site, "tok-tom")
    try:
        refused = await c.post(f"{url}/release", data={"_xsrf": xsrf}, headers=NAVIGATE)
        assert refused.status_code == 403 and "instructors may do this" in refused.text
    finally:
        await c.aclose()


async def test_the_lab_menu_link_finds_the_course_of_the_server(site) -> None:  # noqa: ANN001
    async with client(site) as c:
        came = {"Referer": "http://hub.example/user/sam/algebra/lab/tree/assignments/ps1"}
        go = await c.get(f"{PREFIX}assignments", headers={**bearer("tok-student"), **came})
        assert go.status_code == 303
        assert go.headers["location"] == f"{PREFIX}course/algebra/assignments"
        # another user's server, or no referer: the student's own (only) course
        other = {"Referer": "http://hub.example/user/ines/physics/lab"}
        go = await c.get(f"{PREFIX}assignments", headers={**bearer("tok-student"), **other})
        assert go.headers["location"] == f"{PREFIX}course/algebra/assignments"
        # in no course: a page that says so
        alone = await c.get(f"{PREFIX}assignments", headers=bearer("tok-admin"))
        assert alone.status_code == 200 and "not enrolled" in alone.text
