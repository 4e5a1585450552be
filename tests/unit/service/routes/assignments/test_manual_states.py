"""Questions graded by hand, in each state, as staff and students see them: not graded
yet, an automatic 0 (an answer left as handed out) that still waits for a person,
graded by a person, and everything graded. Through the gradebook's rows, its CSV and
JSON, the "needs grading" filter, the student's JSON and page, the banner after
Submit, and the feedback page.

The hub is faked (tests/helpers/fake_hub.py); the course, the assignment (made by
nbgrader from a real source notebook), the database and the submissions are real.
Gradings are finished with the results the grader gives for such answers (the real
grading runs in tests/integration/grading/test_manual_grading_e2e.py).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.shares import notebook_html
from coursehub.courses.store import CourseStore
from coursehub.grading import gradebook, lifecycle
from coursehub.grading.autograde import _keep_feedback
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.service import cookies
from coursehub.service.context import context_of
from tests.helpers.assignments import nbgrader_source
from tests.helpers.coursedb import add_courses, open_database, sqlite_url
from tests.helpers.fake_hub import API_TOKEN, PREFIX, bearer, client, service_on, user
from tests.helpers.gitrepo import make_repo

STUDENTS = ("sam", "lea", "max", "zoe")
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}
SCRIPT = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
HOSTILE_OUTPUT = (
    "<script>top.document.title='pwned';fetch('/pwned')</script>"
    "<img src=x onerror=\"top.location='https://evil.example/'\">"
)
FAILED = "line 1: assert square(3) == 9\nAssertionError"


def _finish(grading: GradingStore, sid: int, results: dict[str, Any]) -> None:
    """The grading of `sid` finished with `results` (as the grader stores them)."""
    grading.enqueue([sid], "test")
    gid = grading.claim().id
    total = sum(r["points"] or 0 for r in results.values())
    grading.finish(gid, state="done", total=total, max_total=3, questions=json.dumps(results))


def _graded_notebook() -> str:
    """A graded notebook page as the grader keeps it: the student's own output in it."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("display(HTML(...))")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": HOSTILE_OUTPUT})]
    nb.cells = [cell]
    return notebook_html(nbformat.writes(nb).encode(), "ps1.ipynb")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """ps1 (test_square: 2 points, autograded; explain: 1 point, by hand) with sam's
    answer left as handed out (nbgrader's automatic 0), lea's written answer waiting,
    max's attempt still queued and nothing from zoe."""
    root = tmp_path_factory.mktemp("manual-states")
    repo = make_repo(root / "repo", {"intro.ipynb": nbformat.writes(nbformat.v4.new_notebook())})
    data = root / "data"
    db = open_database(sqlite_url(root, "c.sqlite"))
    people = {name: "student" for name in STUDENTS} | {"ines": "instructor", "tom": "ta"}
    add_courses(CourseStore(db, DataLayout(data)), repo, {"algebra": people})
    grading = GradingStore(db, GradingPaths(data))
    source = nbgrader_source(root / "src" / "ps1")
    ps1 = lifecycle.create(grading, "algebra", "ps1", source, title="Problem set 1")
    lifecycle.publish(grading, ps1)
    ps1 = grading.get("algebra", "ps1")
    ids = {}
    for name in ("sam", "lea", "max"):
        ids[name] = grading.submit(ps1, name, {"ps1.ipynb": name.encode()}).submission.id
    passed = {"points": 2.0, "max": 2.0, "kind": "auto", "passed": True, "message": "passed"}
    _finish(
        grading,
        ids["sam"],
        {"test_square": passed, "explain": {"points": 0.0, "max": 1.0, "kind": "manual"}},
    )
    failed = {"points": 0.0, "max": 2.0, "kind": "auto", "passed": False, "message": FAILED}
    _finish(
        grading,
        ids["lea"],
        {"test_square": failed, "explain": {"points": None, "max": 1.0, "kind": "manual"}},
    )
    grading.enqueue([ids["max"]], "submission")
    for name in ("sam", "lea"):
        _keep_feedback(
            grading.paths, "algebra", ids[name], {"ps1.ipynb": _graded_notebook()}, {}
        )
    db.engine.dispose()
    return root, ids


@pytest.fixture
def site(made: tuple[Path, dict[str, int]], tmp_path: Path):  # noqa: ANN201
    root, ids = made
    for part in ("data", "c.sqlite"):
        copy = shutil.copytree if (root / part).is_dir() else shutil.copy2
        copy(root / part, tmp_path / part)
    more = {f"tok-{n}": user(n, ("coursehub-students",)) for n in (*STUDENTS[1:], "tom")}
    app = service_on(sqlite_url(tmp_path, "c.sqlite"), tmp_path / "data", more)
    app.state.ids = ids
    return app


def _store(app: Any) -> GradingStore:
    return context_of(app).grading.store


def _page(path: str) -> str:
    return f"{PREFIX}course/algebra/{path}"


API = f"{PREFIX}api/courses/algebra/assignments/ps1"


def _csv(text: str) -> dict[str, dict[str, str]]:
    return {r["username"]: r for r in csv.DictReader(io.StringIO(text))}


def _row(html: str, student: str) -> str:
    found = re.search(rf'<tr data-student="{student}">.*?</tr>', html, re.S)
    assert found, student
    return found.group(0)


async def test_the_gradebook_tells_each_state_and_a_person_makes_it_final(site) -> None:  # noqa: ANN001
    store = _store(site)
    ps1 = store.get("algebra", "ps1")
    rows = {r.username: r for r in gradebook.gradebook(store, ps1, list(STUDENTS))}
    sam, lea, mx, zoe = (rows[n] for n in STUDENTS)
    # sam's untouched answer got nbgrader's automatic 0: counted, shown, not final
    assert (sam.status, sam.points, sam.total) == (
        "needs grading", {"test_square": 2, "explain": 0}, 2,
    )  # fmt: skip
    assert sam.states == {"test_square": "auto", "explain": "automatic"}
    assert sam.to_grade == ["explain"] and sam.needs_grading
    assert (lea.status, lea.points["explain"], lea.total) == ("needs grading", None, 0)
    assert lea.states["explain"] == "awaiting grading"
    assert (mx.status, mx.total, mx.states["test_square"]) == ("queued", None, "not graded")
    assert mx.needs_grading  # the answer is there to grade, even before the tests ran
    assert (zoe.status, zoe.needs_grading) == ("not submitted", False)

    async with client(site) as c:
        exported = await c.get(f"{API}/gradebook.csv", headers=bearer("tok-inst"))
        table = _csv(exported.text)
        assert (table["sam"]["status"], table["sam"]["explain"], table["sam"]["total"]) == (
            "needs grading", "0", "2",
        )  # fmt: skip
        assert table["sam"]["needs_grading"] == "explain (automatic 0)"
        assert (table["lea"]["explain"], table["lea"]["needs_grading"]) == ("", "explain")
        assert (table["max"]["status"], table["max"]["total"]) == ("queued", "")
        assert (table["zoe"]["status"], table["zoe"]["needs_grading"]) == ("not submitted", "")
        only = await c.get(f"{API}/gradebook?show=needs-grading", headers=bearer("tok-tom"))
        assert [r["username"] for r in only.json()["rows"]] == ["lea", "max", "sam"]
        listed = {r["username"]: r for r in only.json()["rows"]}
        assert listed["sam"]["states"]["explain"] == "automatic"
        assert listed["sam"]["to_grade"] == ["explain"]

        # the page: the filter, and each cell as it stands
        page = (await c.get(_page("staff/assignments/ps1"), headers=bearer("tok-tom"))).text
        assert "needs grading (3)" in page and "all (4)" in page
        sam_row = _row(page, "sam")
        assert 'data-state="automatic">0 <span class="tag pending"' in sam_row
        assert "to grade by hand" in sam_row and "so far" in sam_row
        assert 'data-state="awaiting grading"><span class="tag pending"' in _row(page, "lea")
        filtered = await c.get(
            _page("staff/assignments/ps1?show=needs-grading"), headers=bearer("tok-tom")
        )
        assert 'data-student="zoe"' not in filtered.text
        assert 'data-student="sam"' in filtered.text

    # A person grades: sam's 0 confirmed, lea's answer given a point, max's too.
    store.set_manual(site.state.ids["sam"], "explain", 0, "", "tom")
    store.set_manual(site.state.ids["lea"], "explain", None, "Say more.", "tom")  # a comment only
    rows = {r.username: r for r in gradebook.gradebook(store, ps1, list(STUDENTS))}
    assert (rows["sam"].status, rows["sam"].states["explain"], rows["sam"].total) == (
        "graded", "by hand", 2,
    )  # fmt: skip
    assert rows["lea"].status == "needs grading"  # a comment is no grade
    store.set_manual(site.state.ids["lea"], "explain", 1, "Right.", "tom")
    store.set_manual(site.state.ids["max"], "explain", 1, "", "tom")
    async with client(site) as c:
        table = _csv((await c.get(f"{API}/gradebook.csv", headers=bearer("tok-inst"))).text)
        assert (table["sam"]["status"], table["sam"]["needs_grading"]) == ("graded", "")
        assert (table["lea"]["status"], table["lea"]["explain"], table["lea"]["total"]) == (
            "graded", "1", "1",
        )  # fmt: skip
        assert table["max"]["needs_grading"] == ""  # graded by hand; its tests still queued
        page = await c.get(
            _page("staff/assignments/ps1?show=needs-grading"), headers=bearer("tok-tom")
        )
        assert "needs grading (0)" in page.text and "Nothing needs grading" in page.text


async def test_students_see_an_automatic_0_as_such_until_a_person_grades(site) -> None:  # noqa: ANN001
    async with client(site) as c:
        mine = await c.get(f"{API}/submissions", headers=bearer("tok-student"))
        (attempt,) = mine.json()["attempts"]
        assert (attempt["total"], attempt["pending_manual"], attempt["to_grade"]) == (
            2, True, ["explain"],
        )  # fmt: skip
        explain = attempt["questions"]["explain"]
        assert (explain["state"], explain["points"], explain["kind"]) == ("automatic", 0, "manual")
        page = (await c.get(_page("assignments/ps1"), headers=bearer("tok-student"))).text
        assert "awaiting grading by hand" in page and "2 / 3 points so far" in page
        assert "automatic 0 · to be graded" in page
        listing = (await c.get(_page("assignments"), headers=bearer("tok-student"))).text
        assert "awaiting grading by hand" in listing and "so far" in listing

        lea = (await c.get(_page("assignments/ps1"), headers=bearer("tok-lea"))).text
        row = re.search(r'<tr data-question="explain">.*?</tr>', lea, re.S).group(0)
        assert "to be graded" in row and "automatic" not in row

        _store(site).set_manual(site.state.ids["sam"], "explain", 1, "Good.", "ines")
        mine = await c.get(f"{API}/submissions", headers=bearer("tok-student"))
        (attempt,) = mine.json()["attempts"]
        assert (attempt["total"], attempt["pending_manual"]) == (3, False)
        assert attempt["questions"]["explain"]["state"] == "by hand"
        page = (await c.get(_page("assignments/ps1"), headers=bearer("tok-student"))).text
        assert "3 / 3 points" in page and "so far" not in page
        assert "awaiting grading" not in page and ">graded<" in page


async def _signed_in(site: Any, token: str) -> httpx.AsyncClient:  # noqa: ANN001
    c = client(site)
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", token)
    c.cookies.set("service-coursehub", signed)
    return c


async def test_the_banner_after_submit_follows_the_grading(site) -> None:  # noqa: ANN001
    ids = site.state.ids
    c = await _signed_in(site, "tok-max")
    try:
        page = await c.get(_page("assignments/ps1?submitted=1"), headers=NAVIGATE)
        assert "It is being graded; this page updates by itself." in page.text
        # a script asks how it goes (with the page's ticket); without one, a refresh
        assert '<meta http-equiv="refresh" content="5">' in page.text
        assert "static/assignment_progress.js" in page.text
        progress = re.search(r'data-progress="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        asked = await c.get(progress, headers=SCRIPT)
        assert asked.status_code == 200 and asked.json()["grading"] is True
        forged = progress.split("ticket=")[0] + "ticket=" + "0" * 40
        assert (await c.get(forged, headers=SCRIPT)).status_code == 403
        bare = progress.split("?")[0]
        assert (await c.get(bare, headers=SCRIPT)).status_code == 403
        # another signed-in visitor's ticket is not max's
        other = await _signed_in(site, "tok-lea")
        try:
            assert (await other.get(progress, headers=SCRIPT)).status_code == 403
        finally:
            await other.aclose()

        # grading ends: the script's answer says so, the same banner now tells the result
        store = _store(site)
        gid = store.claim().id
        results = {
            "test_square": {"points": 2.0, "max": 2.0, "kind": "auto", "passed": True},
            "explain": {"points": 0.0, "max": 1.0, "kind": "manual"},
        }
        store.finish(gid, state="done", total=2, max_total=3, questions=json.dumps(results))
        assert (await c.get(progress, headers=SCRIPT)).json() == {
            "grading": False,
            "latest": {"attempt": 1, "status": "done", "total": 2.0},
        }
        page = await c.get(_page("assignments/ps1?submitted=1"), headers=NAVIGATE)
        assert "Attempt 1 is graded: 2 / 3 points so far." in page.text
        assert "being graded" not in page.text and "refresh" not in page.text
        store.set_manual(ids["max"], "explain", 1, "", "ines")
        page = await c.get(_page("assignments/ps1?submitted=1"), headers=NAVIGATE)
        assert "Attempt 1 is graded: 3 / 3 points." in page.text
    finally:
        await c.aclose()


async def test_numbers_in_a_link_that_are_no_counts_show_no_banner(site) -> None:  # noqa: ANN001
    # what a link may say after ?submitted=: a digit to str.isdigit that int refuses,
    # more digits than int reads
    c = await _signed_in(site, "tok-max")
    try:
        for odd in ("²", "9" * 5000, "١"):
            page = await c.get(
                _page(f"assignments/ps1?submitted={odd}&again={odd}"), headers=NAVIGATE
            )
            assert page.status_code == 200, page.text[-500:]
            assert "Submitted: attempt" not in page.text and "already arrived" not in page.text
        staff = await _signed_in(site, "tok-inst")
        try:
            listed = await staff.get(
                _page("staff/assignments?deleted=ps9&kept=²&backup=algebra-ps9-1.tar.gz&created=²"),
                headers=NAVIGATE,
            )
            assert listed.status_code == 200, listed.text[-500:]
            assert "Deleted ps9" not in listed.text
        finally:
            await staff.aclose()
    finally:
        await c.aclose()


async def test_feedback_is_a_page_of_the_site_with_the_notebook_kept_sandboxed(site) -> None:  # noqa: ANN001
    ids = site.state.ids
    store = _store(site)
    store.set_manual(ids["lea"], "explain", None, "Say <b>why</b>.", "ines")
    url = _page(f"assignments/ps1/feedback/{ids['lea']}")
    async with client(site) as c:
        page = await c.get(url, headers=bearer("tok-lea"))
        assert page.status_code == 200
        text = page.text
        assert 'class="topbar"' in text and "Problem set 1" in text  # the site's header
        assert "0 / 3 points</strong> so far" in text and "explain is still to be graded" in text
        row = re.search(r'<tr data-question="test_square">.*?</tr>', text, re.S).group(0)
        assert "line 1: assert square(3) == 9\nAssertionError" in row and "failed" in row
        assert "Say &lt;b&gt;why&lt;/b&gt;." in text
        back = re.search(r'<a href="([^"]+)" id="back">', text).group(1)
        assert back == _page("assignments/ps1")
        frame = re.search(r'<iframe class="notebook-view"[^>]*>', text).group(0)
        assert " sandbox" in frame and f'src="{API}/feedback/{ids["lea"]}/ps1.ipynb"' in frame
        assert "pwned" not in text  # the notebook's outputs are only in the framed document
        document = f"{API}/feedback/{ids['lea']}/ps1.ipynb"
        framed = await c.get(document, headers={**bearer("tok-lea"), "Sec-Fetch-Dest": "iframe"})
        policy = framed.headers["content-security-policy"]
        assert policy.startswith("sandbox;") and "frame-ancestors 'self'" in policy
        assert "default-src 'none'" in policy and "top.document" in framed.text
        # opened as a page of its own (an old link), it leads to the feedback page
        opened = await c.get(document, headers={**bearer("tok-lea"), "Sec-Fetch-Dest": "document"})
        assert opened.status_code == 303
        assert opened.headers["location"] == f"{url}?notebook=ps1.ipynb"

        # the attempt page links here
        assignment = (await c.get(_page("assignments/ps1"), headers=bearer("tok-lea"))).text
        assert f'href="{url}?notebook=ps1.ipynb"' in assignment

        # nobody else's, and no notebook the attempt has not
        assert (await c.get(url, headers=bearer("tok-student"))).status_code == 404
        unknown = await c.get(url + "?notebook=x.ipynb", headers=bearer("tok-lea"))
        assert unknown.status_code == 404
        # staff see it, with the way back to the student's grading page
        staff = await c.get(url, headers=bearer("tok-tom"))
        assert staff.status_code == 200 and "<strong>lea</strong>" in staff.text
        back = re.search(r'<a href="([^"]+)" id="back">', staff.text).group(1)
        assert back == _page("staff/assignments/ps1/students/lea")
