"""Correcting assignments and grading by hand, below the browser: preview, edit of the
title and the due date alone, un-release, delete with its backup file, the answers on
the grading page (sandboxed), previous/next and what is left, and every form's mistake
shown on the form again, filled in, in words.

The hub is faked (tests/helpers/fake_hub.py); the course, the assignments (made by
nbgrader from a real source notebook), the database and the stored submissions are
real. The same in a real browser: tests/integration/grading/test_assignment_corrections_browser.py.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nbformat
import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.store import CourseStore
from coursehub.db.session import Database
from coursehub.grading import lifecycle
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.service import cookies
from tests.helpers.assignments import answer_nbgrader, nbgrader_source
from tests.helpers.coursedb import add_courses, open_database, sqlite_url
from tests.helpers.fake_hub import API_TOKEN, PREFIX, bearer, client, service_on, user
from tests.helpers.gitrepo import make_repo

NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}
HOSTILE_ANSWER = "<script>parent.stolen = 1</script><img src=x onerror=alert(1)> Because."
SOLUTION = "return x * x"  # the instructor's solution line, never in the student version


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """algebra: ps1 released (sam and amy submitted; sam's written answer is hostile),
    draft unreleased; made once (nbgrader is slow), copied for each test."""
    root = tmp_path_factory.mktemp("corrections")
    repo = make_repo(root / "repo", {"intro.ipynb": nbformat.writes(nbformat.v4.new_notebook())})
    data = root / "data"
    db = open_database(sqlite_url(root, "c.sqlite"))
    members = {"algebra": {"sam": "student", "amy": "student", "ines": "instructor", "tom": "ta"}}
    add_courses(CourseStore(db, DataLayout(data)), repo, members)
    grading = GradingStore(db, GradingPaths(data))
    source = nbgrader_source(root / "src" / "ps1")
    due = datetime.now(UTC) - timedelta(hours=2)
    ps1 = lifecycle.create(grading, "algebra", "ps1", source, title="Squares", due_at=due)
    lifecycle.publish(grading, ps1)
    lifecycle.create(grading, "algebra", "draft", source, title="Draft")
    released = data / "released" / "algebra" / "ps1" / "ps1.ipynb"
    for student, text in (("amy", "It is x times x."), ("sam", HOSTILE_ANSWER)):
        nb = nbformat.reads(answer_nbgrader(released, "    return x * x\n").decode(), 4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "explain":
                cell.source = text
        files = {"ps1.ipynb": nbformat.writes(nb).encode()}
        grading.submit(grading.get("algebra", "ps1"), student, files, origin="upload")
    db.engine.dispose()
    return root


@pytest.fixture
def site(made: Path, tmp_path: Path):  # noqa: ANN201
    for part in ("data", "c.sqlite"):
        copy = shutil.copytree if (made / part).is_dir() else shutil.copy2
        copy(made / part, tmp_path / part)
    app = service_on(
        sqlite_url(tmp_path, "c.sqlite"),
        tmp_path / "data",
        {"tok-tom": user("tom", ("coursehub-students",))},
    )
    app.state.root = tmp_path
    return app


def _store(site) -> GradingStore:  # noqa: ANN001
    root = site.state.root
    return GradingStore(Database(sqlite_url(root, "c.sqlite")), GradingPaths(root / "data"))


def _page(path: str) -> str:
    return f"{PREFIX}course/algebra/{path}"


async def _signed_in(site, token: str = "tok-inst") -> tuple[httpx.AsyncClient, str]:  # noqa: ANN001
    c = client(site)
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", token)
    c.cookies.set("service-coursehub", signed)
    page = await c.get(_page("staff/assignments/ps1"), headers=NAVIGATE)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert xsrf, page.text[-300:]
    return c, xsrf.group(1)


def _error(text: str, element: str) -> str:
    found = re.search(rf'<p class="form-error" id="{element}"[^>]*>(.*?)</p>', text, re.S)
    assert found, text[-2000:]
    return found.group(1)


def _in_words(message: str, site) -> None:  # noqa: ANN001
    """No server path, no command-line advice."""
    assert "/tmp" not in message and str(site.state.root) not in message, message
    assert not re.search(r"(^|\s)--\w", message), message
    assert "Traceback" not in message


# ---- grading by hand ---------------------------------------------------------


async def test_the_grading_page_shows_each_answer_sandboxed_beside_its_fields(site) -> None:  # noqa: ANN001
    async with client(site) as c:
        page = await c.get(_page("staff/assignments/ps1/students/sam"), headers=bearer("tok-tom"))
        assert page.status_code == 200
        text = page.text
        # each question: a sandboxed frame (no allow-scripts) beside its points and comment
        frames = re.findall(r'<iframe class="answer"[^>]*src="([^"]+)"([^>]*)>', text)
        assert len(frames) == 2, text
        assert all(" sandbox" in rest and "allow-scripts" not in rest for _src, rest in frames)
        block = re.search(r'data-question="explain">.*?</textarea>', text, re.S).group(0)
        assert 'class="answer"' in block and 'name="points:explain"' in block
        assert HOSTILE_ANSWER not in text and "parent.stolen" not in text  # only in the frame
        # the frame: the student's cell, under a sandbox policy of its own
        src = dict((s.split("/")[-1], s) for s, _rest in frames)
        answer = await c.get(src["explain"].replace("&amp;", "&"), headers=bearer("tok-tom"))
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert policy.startswith("sandbox;") and "script-src" not in policy
        assert "default-src 'none'" in policy
        assert "Because." in answer.text
        tested = await c.get(src["test_square"], headers=bearer("tok-tom"))
        assert "square" in tested.text and "x" in tested.text  # the solution cell it tests
        # the navigation: amy before sam, two left to grade by hand
        assert re.search(r'id="previous" href="[^"]+/students/amy"', text)
        assert 'id="next"' not in text and "2 left to grade by hand" in text
        assert "next to grade: amy" in text
        # a student of the course, another student's submission, an unknown question
        assert (await c.get(src["explain"], headers=bearer("tok-student"))).status_code == 403
        other = src["explain"].replace("/students/sam/", "/students/amy/")
        assert (await c.get(other, headers=bearer("tok-tom"))).status_code == 404
        unknown = src["explain"].rsplit("/", 1)[0] + "/nope"
        assert (await c.get(unknown, headers=bearer("tok-tom"))).status_code == 404


async def test_save_and_next_goes_to_the_next_student_to_grade(site) -> None:  # noqa: ANN001
    c, xsrf = await _signed_in(site)
    try:
        page = await c.get(_page("staff/assignments/ps1/students/amy"), headers=NAVIGATE)
        sid = re.search(r'name="submission" value="(\d+)"', page.text).group(1)
        assert "2 left to grade by hand" in page.text and 'id="next"' in page.text
        form = {"_xsrf": xsrf, "submission": sid, "points:explain": "1", "comment:explain": "",
                "then": "next"}  # fmt: skip
        saved = await c.post(
            _page("staff/assignments/ps1/students/amy/grade"), data=form, headers=NAVIGATE
        )
        assert saved.status_code == 303
        assert saved.headers["location"].endswith("/students/sam?saved=1")
        sam = await c.get(saved.headers["location"], headers=NAVIGATE)
        assert "1 left to grade by hand" in sam.text and "Grades saved" in sam.text
    finally:
        await c.aclose()


async def test_a_grading_mistake_shows_the_form_again_with_what_was_typed(site) -> None:  # noqa: ANN001
    c, xsrf = await _signed_in(site)
    url = _page("staff/assignments/ps1/students/sam")
    try:
        page = await c.get(url, headers=NAVIGATE)
        sid = re.search(r'name="submission" value="(\d+)"', page.text).group(1)
        comment = "Good, but <say> why & how"
        form = {"_xsrf": xsrf, "submission": sid, "points:explain": "5", "comment:explain": comment}
        bad = await c.post(f"{url}/grade", data=form, headers=NAVIGATE)
        assert bad.status_code == 400
        assert "between 0 and 1" in _error(bad.text, "grade-error")
        assert 'value="5"' in bad.text  # the points as typed
        assert "Good, but &lt;say&gt; why &amp; how</textarea>" in bad.text
        assert not _store(site).manual_grades(int(sid))  # nothing saved
    finally:
        await c.aclose()


# ---- preview, edit, un-release ----------------------------------------------


async def test_preview_shows_the_student_version_without_solutions(site) -> None:  # noqa: ANN001
    async with client(site) as c:
        for name in ("ps1", "draft"):  # released or not
            url = _page(f"staff/assignments/{name}/preview")
            page = await c.get(url, headers=bearer("tok-tom"))
            assert page.status_code == 200 and "What students get" in page.text
            frame = re.search(r'class="notebook-view"[^>]*src="([^"]+)" sandbox>', page.text)
            assert frame, page.text
            shown = await c.get(frame.group(1), headers=bearer("tok-tom"))
            assert shown.headers["content-security-policy"].startswith("sandbox;")
            assert "square" in shown.text and "YOUR ANSWER HERE" in shown.text
            assert SOLUTION not in shown.text and "HIDDEN" not in shown.text
        missing = await c.get(
            _page("staff/assignments/ps1/preview/file/x.ipynb"), headers=bearer("tok-tom")
        )
        assert missing.status_code == 404
        student = await c.get(_page("staff/assignments/ps1/preview"), headers=bearer("tok-student"))
        assert student.status_code == 403


async def test_editing_the_due_date_alone_changes_nothing_else(site) -> None:  # noqa: ANN001
    store = _store(site)
    before = store.get("algebra", "ps1")
    released = site.state.root / "data" / "released" / "algebra" / "ps1" / "ps1.ipynb"
    stamp = released.stat().st_mtime_ns
    assert all(s.late_seconds > 0 for s in store.submissions(before.id))
    c, xsrf = await _signed_in(site)
    try:
        form = await c.get(_page("staff/assignments/ps1/edit"), headers=NAVIGATE)
        assert 'value="Squares"' in form.text
        later = (datetime.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        data = {"_xsrf": xsrf, "title": "Squares", "due": later}
        saved = await c.post(_page("staff/assignments/ps1/edit"), data=data, headers=NAVIGATE)
        assert saved.status_code == 303 and "remeasured=2" in saved.headers["location"]
        page = await c.get(saved.headers["location"], headers=NAVIGATE)
        assert "lateness of 2 submissions was measured again" in page.text
    finally:
        await c.aclose()
    after = store.get("algebra", "ps1")
    assert after.due_at.strftime("%Y-%m-%dT%H:%M") == datetime.fromisoformat(later).astimezone(
        UTC
    ).strftime("%Y-%m-%dT%H:%M")
    assert (after.title, after.questions, after.files, after.max_points, after.released_at) == (
        before.title, before.questions, before.files, before.max_points, before.released_at,
    )  # fmt: skip
    assert released.stat().st_mtime_ns == stamp
    assert all(s.late_seconds == 0 for s in store.submissions(after.id))


async def test_a_long_title_is_refused_on_the_refilled_edit_form(site) -> None:  # noqa: ANN001
    c, xsrf = await _signed_in(site)
    try:
        title = "A very long title " * 9  # 162 characters
        data = {"_xsrf": xsrf, "title": title, "due": "2031-01-01T10:00"}
        bad = await c.post(_page("staff/assignments/ps1/edit"), data=data, headers=NAVIGATE)
        assert bad.status_code == 400
        message = _error(bad.text, "edit-error")
        assert "at most 120" in message and "shorten it" in message
        assert f'value="{title}"' in bad.text and 'value="2031-01-01T10:00"' in bad.text
        _in_words(message, site)
        assert _store(site).get("algebra", "ps1").title == "Squares"
        ta, ta_xsrf = await _signed_in(site, "tok-tom")
        try:
            refused = await ta.post(
                _page("staff/assignments/ps1/edit"), data={"_xsrf": ta_xsrf, "title": "x"},
                headers=NAVIGATE,
            )  # fmt: skip
            assert refused.status_code == 403
        finally:
            await ta.aclose()
    finally:
        await c.aclose()


async def test_unrelease_hides_it_and_refuses_copies_and_submissions(site) -> None:  # noqa: ANN001
    released = site.state.root / "data" / "released" / "algebra" / "ps1"
    c, xsrf = await _signed_in(site)
    try:
        page = await c.get(_page("staff/assignments/ps1"), headers=NAVIGATE)
        assert 'id="unrelease"' in page.text and "Copies already in their workspaces" in page.text
        done = await c.post(
            _page("staff/assignments/ps1/unrelease"), data={"_xsrf": xsrf}, headers=NAVIGATE
        )
        assert done.status_code == 303
        page = await c.get(done.headers["location"], headers=NAVIGATE)
        assert "Un-released" in page.text and "submissions and grades are kept" in page.text
        assert 'id="unrelease"' not in page.text and "Release to students" in page.text
        shown = await c.get(_page("staff/assignments/ps1"), headers=NAVIGATE)  # later, again
        released_row = re.search(r'id="released">(.*?)</td>', shown.text, re.S)
        assert released_row and "taken back" in released_row.group(1)
        assert "copies they got stay" in released_row.group(1)
        draft = await c.get(_page("staff/assignments/draft"), headers=NAVIGATE)
        assert "not yet: students do not see it" in draft.text  # never released: not taken back
    finally:
        await c.aclose()
    assert not released.exists()
    async with client(site) as s:
        listing = await s.get(_page("assignments"), headers=bearer("tok-student"))
        assert "Squares" not in listing.text
        mine = await s.get(_page("assignments/ps1"), headers=bearer("tok-student"))
        assert mine.status_code == 404 and "took it back" in mine.text
        api = f"{PREFIX}api/courses/algebra/assignments/ps1"
        submit = await s.post(f"{api}/submit", headers=bearer("tok-student"))
        assert submit.status_code == 404 and "neither got nor submitted" in submit.text
        fetch = await s.post(f"{api}/fetch", headers=bearer("tok-student"))
        assert fetch.status_code == 404
        # never released: the same words (students learn nothing of unreleased names)
        draft = await s.get(_page("assignments/draft"), headers=bearer("tok-student"))
        assert draft.text.replace("draft", "ps1") == mine.text
    # the submissions stay, and releasing again gives it back
    assert len(_store(site).submissions(_store(site).get("algebra", "ps1").id)) == 2


# ---- delete ------------------------------------------------------------------


async def test_delete_asks_again_when_there_are_submissions_and_keeps_a_backup(site) -> None:  # noqa: ANN001
    store = _store(site)
    row = store.get("algebra", "ps1")
    subs = store.submissions(row.id)
    store.set_manual(subs[0].id, "explain", 1, "Fine", "ines")
    c, xsrf = await _signed_in(site)
    url = _page("staff/assignments/ps1/delete")
    try:
        confirm = await c.get(url, headers=NAVIGATE)
        assert "2 submissions" in confirm.text and "from 2 students" in confirm.text
        assert 'name="confirm_name"' in confirm.text
        refused = await c.post(url, data={"_xsrf": xsrf}, headers=NAVIGATE)
        assert refused.status_code == 409
        assert "was not deleted" in _error(refused.text, "delete-error")
        wrong = await c.post(url, data={"_xsrf": xsrf, "confirm_name": "ps2"}, headers=NAVIGATE)
        assert wrong.status_code == 409 and "is not its name" in wrong.text
        assert 'value="ps2"' in wrong.text
        assert store.get("algebra", "ps1").id == row.id  # still there
        done = await c.post(url, data={"_xsrf": xsrf, "confirm_name": "ps1"}, headers=NAVIGATE)
        assert done.status_code == 303
        listing = await c.get(done.headers["location"], headers=NAVIGATE)
        notice = re.search(r'id="notice">(.*?)</p>', listing.text, re.S).group(1)
        backup = re.search(r"(algebra-ps1-\d{8}T\d{6}Z\.tar\.gz)", notice).group(1)
        assert "Deleted ps1" in notice and "2 submissions with their grades" in notice
        assert 'data-assignment="ps1"' not in listing.text
        # a forged backup name is never shown
        forged = await c.get(
            _page("staff/assignments?deleted=ps1&kept=2&backup=algebra-ps1-x.tar.gz"),
            headers=NAVIGATE,
        )
        assert 'id="notice"' not in forged.text
    finally:
        await c.aclose()
    kept = site.state.root / "data" / "backups" / "deleted-assignments" / backup
    assert kept.stat().st_mode & 0o777 == 0o600
    with tarfile.open(kept) as tar:
        names = tar.getnames()
        attempts = json.load(tar.extractfile("submissions.json"))
        grades = tar.extractfile("grades.csv").read().decode()
        theirs = tar.extractfile(f"files/submissions/sam/{subs[-1].id}/ps1.ipynb").read()
    assert "assignment.json" in names and any(n.startswith("files/source/") for n in names)
    assert {a["username"] for a in attempts} == {"amy", "sam"}
    assert any(m["comment"] == "Fine" for a in attempts for m in a["manual_grades"])
    assert "amy" in grades and "sam" in grades
    assert b"parent.stolen" in theirs  # the student's work, as submitted
    assert not (site.state.root / "data" / "submissions" / "algebra" / "ps1").exists()
    with pytest.raises(Exception, match="no assignment"):
        store.get("algebra", "ps1")
    assert store.submissions(row.id) == []


async def test_an_assignment_without_submissions_is_deleted_after_one_confirmation(site) -> None:  # noqa: ANN001
    c, xsrf = await _signed_in(site)
    try:
        confirm = await c.get(_page("staff/assignments/draft/delete"), headers=NAVIGATE)
        assert 'name="confirm_name"' not in confirm.text
        done = await c.post(
            _page("staff/assignments/draft/delete"), data={"_xsrf": xsrf}, headers=NAVIGATE
        )
        assert done.status_code == 303 and "backup=algebra-draft-" in done.headers["location"]
    finally:
        await c.aclose()
    ta, ta_xsrf = await _signed_in(site, "tok-tom")
    try:
        refused = await ta.post(
            _page("staff/assignments/ps1/delete"),
            data={"_xsrf": ta_xsrf, "confirm_name": "ps1"},
            headers=NAVIGATE,
        )
        assert refused.status_code == 403
    finally:
        await ta.aclose()
    assert _store(site).get("algebra", "ps1") is not None


# ---- uploads and other forms: mistakes in words, on the refilled form --------


def _notebook_bytes(nb: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nb).encode()


def _unclosed_solution() -> bytes:
    nb = nbformat.read(nbgrader_source(Path(tempfile.mkdtemp())) / "ps1.ipynb", as_version=4)
    nb.cells[1].source = "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n"
    return _notebook_bytes(nb)


BAD_UPLOADS = {
    "notes.txt": (b"my notes", "None of the files (notes.txt) is a notebook"),
    "plain.ipynb": (
        _notebook_bytes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])),
        "plain.ipynb has no grading marks",
    ),
    "broken.ipynb": (b'{"cells": [\n  {"cell_type": "code",\n', "its JSON is broken at line 3"),
    "unclosed.ipynb": (_unclosed_solution(), "nbgrader, which said: No end solution statement"),
}


@pytest.mark.parametrize("filename", sorted(BAD_UPLOADS))
async def test_a_bad_upload_is_told_in_words_on_the_refilled_form(site, filename: str) -> None:  # noqa: ANN001
    data, expected = BAD_UPLOADS[filename]
    c, xsrf = await _signed_in(site)
    try:
        form = {"_xsrf": xsrf, "name": "ps9", "title": "Week <9>", "due": "2031-02-03T09:30"}
        files = {"files": (filename, io.BytesIO(data), "application/octet-stream")}
        bad = await c.post(_page("staff/assignments"), data=form, files=files, headers=NAVIGATE)
        assert bad.status_code == 400
        message = _error(bad.text, "create-error")
        assert expected in message, message
        assert "Choose the files again" in message
        _in_words(message, site)
        assert "--format" not in bad.text and "--from" not in bad.text
        assert 'value="ps9"' in bad.text and 'value="Week &lt;9&gt;"' in bad.text
        assert 'value="2031-02-03T09:30"' in bad.text
    finally:
        await c.aclose()
    assert [a.name for a in _store(site).assignments("algebra")] == ["ps1", "draft"]


async def test_a_failed_remake_leaves_the_assignment_as_it_was(site) -> None:  # noqa: ANN001
    store = _store(site)
    before = store.get("algebra", "ps1")
    version = site.state.root / "data" / "grading" / "algebra" / "nbgrader" / "release" / "ps1"
    handed_out = (version / "ps1.ipynb").read_bytes()
    c, xsrf = await _signed_in(site)
    try:
        form = {"_xsrf": xsrf, "name": "ps1", "title": "", "due": ""}
        files = {"files": ("ps1.ipynb", io.BytesIO(_unclosed_solution()), "application/json")}
        bad = await c.post(_page("staff/assignments"), data=form, files=files, headers=NAVIGATE)
        assert bad.status_code == 400 and "No end solution statement" in bad.text
        preview = await c.get(_page("staff/assignments/ps1/preview/file/ps1.ipynb"))
        assert preview.status_code == 200 and "square" in preview.text
    finally:
        await c.aclose()
    assert (version / "ps1.ipynb").read_bytes() == handed_out
    after = store.get("algebra", "ps1")
    assert (after.questions, after.files, after.updated_at) == (
        before.questions, before.files, before.updated_at,
    )  # fmt: skip
    leftovers = list((version.parent).glob(".ps1.previous-*"))
    assert leftovers == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("name", "a" * 65, "65 characters long; it may have at most 64"),
        ("title", "Long title " * 15, "it may have at most 120"),
        ("name", "../x", "is not a valid assignment name"),
    ],
)
async def test_long_names_and_titles_are_refused_in_words(site, field, value, expected) -> None:  # noqa: ANN001
    c, xsrf = await _signed_in(site)
    try:
        form = {"_xsrf": xsrf, "name": "ok", "title": "", field: value}
        files = {"files": ("ps1.ipynb", io.BytesIO(b"{}"), "application/json")}
        bad = await c.post(_page("staff/assignments"), data=form, files=files, headers=NAVIGATE)
        assert bad.status_code == 400
        message = _error(bad.text, "create-error")
        assert expected in message, message
        _in_words(message, site)
        assert f'value="{value.replace("..", "..")}"' in bad.text
    finally:
        await c.aclose()


async def test_a_too_large_upload_is_refused_on_the_page(site) -> None:  # noqa: ANN001
    c, xsrf = await _signed_in(site)
    try:
        headers = {**NAVIGATE, "Content-Type": "multipart/form-data; boundary=x",
                   "Content-Length": str(60 * 1024 * 1024)}  # fmt: skip
        bad = await c.post(_page("staff/assignments"), content=b"--x--\r\n", headers=headers)
        assert bad.status_code == 413
        assert "at most 50 MB" in _error(bad.text, "create-error")
    finally:
        await c.aclose()


async def test_an_extension_mistake_shows_the_form_again(site) -> None:  # noqa: ANN001
    c, xsrf = await _signed_in(site)
    try:
        ext = {"_xsrf": xsrf, "username": "amy", "due": "tomorrow noon"}
        bad = await c.post(_page("staff/assignments/ps1/extension"), data=ext, headers=NAVIGATE)
        assert bad.status_code == 400
        assert "is not a date and time" in _error(bad.text, "extension-error")
        assert '<option value="amy" selected>' in bad.text
        assert 'value="tomorrow noon"' in bad.text
    finally:
        await c.aclose()


async def test_a_failed_submit_is_told_on_the_students_page(site) -> None:  # noqa: ANN001
    # sam has no workspace in this test: the submit form says so on the page
    async with client(site) as c:
        signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", "tok-student")
        c.cookies.set("service-coursehub", signed)
        page = await c.get(_page("assignments/ps1"), headers=NAVIGATE)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        key = re.search(r'name="key" value="([^"]+)"', page.text).group(1)
        bad = await c.post(
            _page("assignments/ps1/submit"), data={"_xsrf": xsrf, "key": key}, headers=NAVIGATE
        )
        assert bad.status_code == 409, bad.text[-500:]
        message = _error(bad.text, "error")
        assert "Nothing was submitted" in message
        _in_words(message, site)
        assert 'id="submit"' in bad.text  # the form is there to try again


async def test_a_ta_can_neither_edit_unrelease_delete_nor_extend(site) -> None:  # noqa: ANN001
    """A TA grades; correcting the assignment is the instructors'. Each form, posted by
    a TA with a valid XSRF field, is refused and changes nothing; the pages asking for
    it are refused too. A TA may preview what students get."""
    before = _store(site).get("algebra", "ps1")
    c, xsrf = await _signed_in(site, "tok-tom")
    try:
        forms = {
            "edit": {"title": "Hijacked", "due": "2030-01-01T00:00Z"},
            "unrelease": {},
            "delete": {"confirm_name": "ps1"},
            "extension": {"username": "sam", "due": "2030-01-01T00:00Z"},
            "release": {},
        }
        for action, fields in forms.items():
            sent = await c.post(
                _page(f"staff/assignments/ps1/{action}"),
                data={"_xsrf": xsrf, **fields},
                headers=NAVIGATE,
            )
            assert sent.status_code == 403, (action, sent.text[-500:])
        for page in ("edit", "delete"):
            asked = await c.get(_page(f"staff/assignments/ps1/{page}"), headers=NAVIGATE)
            assert asked.status_code == 403, page
        assert (await c.get(_page("staff/assignments/ps1/preview"), headers=NAVIGATE)).is_success
    finally:
        await c.aclose()
    after = _store(site).get("algebra", "ps1")
    assert (after.title, after.due_at, after.released_at) == (
        before.title,
        before.due_at,
        before.released_at,
    )
    assert _store(site).due_for(after, "sam") == before.due_at
