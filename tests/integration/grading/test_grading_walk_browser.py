"""The assignment loop walked in Chromium by five people in five time zones, on a real
hub: an instructor (Paris), a TA (Tokyo) and three students (Los Angeles, Kolkata,
Auckland), each in a browser of their own, each checked for what they see.

The instructor's .txt upload is refused in words on the refilled form; her nbgrader
notebook (a tested function, a written answer and a code answer graded by hand) is
previewed without its solution and released, due next week at a time she types in
Paris; each student sees that moment in their own zone, named. Amy gets it
(JupyterLab opens on it), types her answers there and submits; Ben hands it in as
handed out: his untouched answers are automatic 0s, and both wait for grading by hand
("so far", not final). A second assignment, released too early, is un-released: the
students no longer see it, Amy keeps the copy she got. The instructor corrects the
first one's due date to a moment already past (after Amy's and Ben's submissions):
each student sees the new date in their zone; Cleo then submits late, and the
instructor gives her an extension, typed in Paris, that Cleo reads in Auckland time
and the TA in Tokyo time; her lateness is gone. The gradebook's "needs grading"
filter and the CSV say what is left. The TA (who cannot extend) grades beside each
answer, student after student, until nothing is left; the students see their final
totals and the TA's comments, on the feedback page too. The staff pages refuse a
student.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import nbformat
import pytest

from tests.helpers import hubproc
from tests.helpers.assignments import nbgrader_source
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.grading_site import grading_site
from tests.integration.conftest import Cleanup

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"ines": "ines-pass-456", "tom": "tom-pass-789", "amy": "amy-pass-123",
         "ben": "ben-pass-234", "cleo": "cleo-pass-345"}  # fmt: skip
ZONES = {"ines": "Europe/Paris", "tom": "Asia/Tokyo", "amy": "America/Los_Angeles",
         "ben": "Asia/Kolkata", "cleo": "Pacific/Auckland"}  # fmt: skip
STUDENTS = ("amy", "ben", "cleo")
COURSE = "hw"
SERVICE = "/services/coursehub"
API = f"{SERVICE}/api/courses/{COURSE}/assignments"
TITLE = "Squares and roots"
AMY_WROTE = "Both factors have the same sign, so their product is never negative."


@pytest.fixture(scope="module")
def hub(cleanup: Cleanup) -> Iterator[hubproc.RunningHub]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    with grading_site(
        "grading-walk", COURSE, USERS, {"ines": "instructor", "tom": "ta"}, later=cleanup.later
    ) as site:
        yield site


# ---- times as each person reads and types them ---------------------------------------


def shown(moment: datetime, name: str) -> str:
    """`moment` as `name`'s pages show it: their own zone, named as Chromium (en-US)
    names it: PST for Los Angeles, GMT+5:30 for Kolkata."""
    local = moment.astimezone(ZoneInfo(ZONES[name]))
    zone = local.tzname() if ZONES[name].startswith("America/") else _gmt(local)
    return f"{local:%Y-%m-%d %H:%M} {zone}"


def _gmt(local: datetime) -> str:
    offset = local.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{'+' if minutes >= 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")


def typed(moment: datetime, name: str) -> str:
    """`moment` as `name` types it into a date field: their wall clock, no zone."""
    return f"{moment.astimezone(ZoneInfo(ZONES[name])):%Y-%m-%dT%H:%M}"


def paris_at(days: int, hour: int) -> datetime:
    """`hour` o'clock in Paris, `days` from today there."""
    paris = ZoneInfo(ZONES["ines"])
    day = datetime.now(paris).date() + timedelta(days=days)
    return datetime.combine(day, clock(hour), tzinfo=paris)


# ---- the people ----------------------------------------------------------------------


@dataclass
class Walk:
    hub: hubproc.RunningHub
    pages: dict[str, Any]
    tmp: Path
    due: datetime = field(default_factory=lambda: paris_at(7, 18))  # next week, in Paris
    corrected: datetime | None = None  # the due date once corrected
    # cleo's: 01:00 tomorrow in Paris (an hour every day has), still today in Los Angeles
    extended: datetime = field(default_factory=lambda: paris_at(1, 1))

    def url(self, *parts: str) -> str:
        return "/".join((f"{self.hub.url}{SERVICE}/course/{COURSE}", *parts))

    def staff(self, name: str = "ps1") -> str:
        return self.url("staff", "assignments", name)

    def student(self, name: str = "ps1") -> str:
        return self.url("assignments", name)

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"token {self.hub.user_token(name)}"}

    def shot(self, name: str, label: str) -> None:
        self.pages[name].screenshot(path=str(SHOTS / f"walk-{label}.png"), full_page=True)


def _sign_in(page: Any, url: str, name: str) -> None:
    page.goto(url)
    page.fill("#username_input", name)
    page.fill("#password_input", USERS[name])
    page.click("#login_submit")
    page.wait_for_url(f"**{url.split('://', 1)[1].split('/', 1)[1]}", timeout=60_000)


def test_five_people_in_five_time_zones_through_the_assignment_loop(
    hub: hubproc.RunningHub, tmp_path: Path
) -> None:
    started = time.monotonic()
    with chromium() as browser:
        pages = {
            name: browser.new_context(
                viewport={"width": 1280, "height": 900}, timezone_id=ZONES[name]
            ).new_page()
            for name in USERS
        }
        walk = Walk(hub, pages, tmp_path)
        try:
            _walk_through(walk)
        except Exception:
            for name, page in pages.items():
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(SHOTS / f"walk-failed-{name}.png"), timeout=5000)
            print({n: p.url for n, p in pages.items()}, hub.log_tail(120))
            raise
    print(f"the walk took {time.monotonic() - started:.0f} s")


def _walk_through(w: Walk) -> None:
    steps = (
        _instructor_creates_and_releases,
        _students_see_it_due_in_their_zones,
        _amy_answers_in_jupyterlab_and_submits,
        _ben_submits_it_as_handed_out,
        _amy_and_ben_wait_for_grading_by_hand,
        _second_assignment_released_then_taken_back,
        _instructor_corrects_the_due_date,
        _cleo_submits_late,
        _instructor_extends_cleo_from_paris,
        _gradebook_says_what_is_left,
        _ta_grades_beside_the_answers,
        _students_see_final_totals_and_comments,
        _students_cannot_open_staff_pages,
    )
    for step in steps:
        began = time.monotonic()
        step(w)
        print(f"{time.monotonic() - began:5.1f} s  {step.__name__}")


# ---- 1. the instructor: a bad upload, a good one, preview, release -------------------


def _instructor_creates_and_releases(w: Walk) -> None:
    ines, due = w.pages["ines"], w.due
    _sign_in(ines, w.url("staff", "assignments"), "ines")
    assert "in your time zone, Europe/Paris" in ines.inner_text("#create")
    fields = {"name": "ps1", "title": TITLE, "due": typed(due, "ines")}
    for key, value in fields.items():
        ines.fill(f"input[name={key}]", value)
    notes = w.tmp / "notes.txt"
    notes.write_text("Squares: remember to show the working.")
    ines.set_input_files("input[name=files]", str(notes))
    _send(ines, "#create-assignment")
    ines.wait_for_selector("#create-error", timeout=120_000)
    message = ines.inner_text("#create-error")
    assert "None of the files (notes.txt) is a notebook" in message, message
    assert "Choose the files again" in message, message
    for key, value in fields.items():  # nothing typed is lost
        assert ines.input_value(f"input[name={key}]") == value, key
    main = ines.inner_text("main")
    for leak in ("/tmp", "/srv", str(w.hub.data_dir), "Bad Request", "Traceback"):
        assert leak not in main, (leak, main)
    assert not re.search(r"(^|\s)--\w", main), main  # no command-line flags to try
    w.shot("ines", "1-bad-upload")

    source = nbgrader_source(w.tmp / "ps1", manual_code=True) / "ps1.ipynb"
    ines.set_input_files("input[name=files]", str(source))
    _send(ines, "#create-assignment")
    ines.wait_for_selector("#notice", timeout=120_000)
    assert "ready" in ines.inner_text("#notice")
    assert _facts(ines, "Due") == shown(due, "ines")
    assert "table (2, by hand)" in _facts(ines, "Questions")

    ines.click("#preview")
    students_get = ines.frame_locator("iframe.notebook-view").locator("body")
    students_get.get_by_text("def square").first.wait_for(timeout=30_000)
    text = students_get.inner_text()
    assert "raise NotImplementedError" in text and "YOUR ANSWER HERE" in text
    for solution in ("x * x", "print([square", "BEGIN SOLUTION", "HIDDEN", "square(-2)"):
        assert solution not in text, solution
    w.shot("ines", "1-preview")
    ines.goto(w.staff())
    _send(ines, "#release")
    ines.wait_for_selector("#notice:has-text('Released')")


def _send(page: Any, button: str) -> None:
    """Press a form's button and wait for the page it leads to (which may look like the
    one before: saving grades twice shows the same notice)."""
    with page.expect_navigation(timeout=120_000):
        page.click(button)


def _facts(page: Any, row: str) -> str:
    return page.inner_text(f"table.facts tr:has(th:text-is('{row}')) td")


# ---- 2. the students find it, due in their own time ----------------------------------


def _students_see_it_due_in_their_zones(w: Walk) -> None:
    due = w.due
    for name in STUDENTS:
        page = w.pages[name]
        _sign_in(page, w.url("assignments"), name)
        row = page.inner_text("tr[data-assignment=ps1]")
        assert TITLE in row and shown(due, name) in row and "not submitted" in row, row
    w.shot("ben", "2-list-kolkata")


# ---- 3. amy answers in JupyterLab; ben hands it in untouched -------------------------


def _amy_answers_in_jupyterlab_and_submits(w: Walk) -> None:
    amy = w.pages["amy"]
    amy.click(f"text={TITLE}")
    amy.click("#get")
    amy.wait_for_url(
        f"**/user/amy/{COURSE}/lab/tree/assignments/ps1/ps1.ipynb",
        timeout=180_000,
        wait_until="commit",
    )
    notebook = amy.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    notebook.wait_for(timeout=120_000)
    amy.wait_for_selector("h1:has-text('Problem set 1')", timeout=60_000)
    cells = notebook.locator(".jp-Cell")
    _type_into(amy, cells.nth(1), "def square(x):\n    return x * x")
    cells.nth(3).dblclick()  # a markdown cell opens for editing on a double click
    _type_into(amy, cells.nth(3), AMY_WROTE)
    _type_into(amy, cells.nth(4), "print([square(n) for n in range(5)])")
    amy.keyboard.press("Control+s")
    amy.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden).jp-mod-dirty", state="detached")
    _saved_has(w, "amy", AMY_WROTE)
    w.shot("amy", "3-answers-in-lab")

    amy.goto(w.student())
    amy.click("#submit")
    amy.wait_for_url("**submitted=1", timeout=60_000)


def _type_into(page: Any, cell: Any, text: str) -> None:
    """Replace what the cell's editor holds by `text`, as typed (no auto-indent)."""
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)


def _saved_has(w: Walk, name: str, text: str) -> None:
    """The notebook as saved in `name`'s workspace (read through their own server)."""
    url = f"{w.hub.url}/user/{name}/{COURSE}/api/contents/assignments/ps1/ps1.ipynb"
    saved = httpx.get(url, headers=w.auth(name), timeout=30)
    assert saved.status_code == 200, saved.text
    sources = ["".join(c["source"]) for c in saved.json()["content"]["cells"]]
    assert text in sources, sources


def _ben_submits_it_as_handed_out(w: Walk) -> None:
    """Ben has no server: he sends the notebook as handed out (as its file, through the
    API), and follows it on his page."""
    released = w.hub.data_dir / "released" / COURSE / "ps1" / "ps1.ipynb"
    _submit_file(w, "ben", released.read_bytes())
    w.pages["ben"].goto(w.student())


def _submit_file(w: Walk, name: str, notebook: bytes) -> None:
    sent = httpx.post(
        f"{w.hub.url}{API}/ps1/submit",
        headers=w.auth(name),
        files={"files": ("ps1.ipynb", notebook, "application/json")},
        timeout=60,
    )
    assert sent.status_code == 201, sent.text


def _amy_and_ben_wait_for_grading_by_hand(w: Walk) -> None:
    amy, ben = w.pages["amy"], w.pages["ben"]
    amy.wait_for_selector("#notice:has-text('is graded:')", timeout=300_000)  # by itself
    assert "2 / 5 points so far" in amy.inner_text("#notice")
    ben.wait_for_selector("#attempt-1[data-status=done]", timeout=300_000)
    attempt = amy.inner_text("#attempt-1")
    assert "awaiting grading by hand" in attempt and "2 / 5 points so far" in attempt, attempt
    assert "late" not in attempt
    assert "2 / 2" in _question(amy, "test_square")
    for question in ("explain", "table"):
        row = _question(amy, question)
        assert "to be graded" in row and "automatic" not in row, row

    attempt = ben.inner_text("#attempt-1")
    assert "awaiting grading by hand" in attempt and "0 / 5 points so far" in attempt, attempt
    assert "failed" in _question(ben, "test_square")
    for question in ("explain", "table"):  # left as handed out: 0 for now, not final
        assert "automatic 0 · to be graded" in _question(ben, question), question
    w.shot("ben", "3-awaiting-grading")
    ben.goto(w.url("assignments"))
    row = ben.inner_text("tr[data-assignment=ps1]")
    assert "0 / 5 so far" in row and "more to be graded by hand" in row, row


def _question(page: Any, question: str, attempt: int = 1) -> str:
    return page.inner_text(f"#attempt-{attempt} tr[data-question={question}]")


# ---- 4. a second assignment, released by mistake and taken back ----------------------


def _second_assignment_released_then_taken_back(w: Walk) -> None:
    folder = nbgrader_source(w.tmp / "ps2")
    shutil.move(folder / "ps1.ipynb", folder / "ps2.ipynb")
    ines = w.pages["ines"]
    ines.goto(w.url("staff", "assignments"))
    ines.fill("input[name=name]", "ps2")
    ines.fill("input[name=title]", "Cubes")
    ines.set_input_files("input[name=files]", str(folder / "ps2.ipynb"))
    _send(ines, "#create-assignment")
    ines.wait_for_selector("#notice", timeout=120_000)
    _send(ines, "#release")
    ines.wait_for_selector("#notice:has-text('Released')")

    amy = w.pages["amy"]  # gets it: JupyterLab opens on it
    amy.goto(w.student("ps2"))
    amy.click("#get")
    amy.wait_for_url(f"**/user/amy/{COURSE}/lab/tree/assignments/ps2/ps2.ipynb",
                     wait_until="commit", timeout=60_000)  # fmt: skip

    _send(ines, "#unrelease")
    ines.wait_for_selector("#notice:has-text('Un-released')")
    assert "Copies they already got stay in their workspaces" in ines.inner_text("#notice")
    w.shot("ines", "4-unreleased")
    for name in STUDENTS:
        page = w.pages[name]
        page.goto(w.url("assignments"))
        assert "Cubes" not in page.inner_text("#assignments"), name
        assert page.locator("tr[data-assignment=ps1]").count() == 1
    gone = amy.goto(w.student("ps2"))
    assert gone is not None and gone.status == 404
    assert "took it back" in amy.inner_text("main")
    kept = httpx.get(
        f"{w.hub.url}/user/amy/{COURSE}/api/contents/assignments/ps2",
        headers=w.auth("amy"),
        timeout=30,
    )
    assert kept.status_code == 200, kept.text
    assert [f["name"] for f in kept.json()["content"]] == ["ps2.ipynb"]


# ---- 5. the due date corrected; cleo late; an extension from Paris -------------------


def _instructor_corrects_the_due_date(w: Walk) -> None:
    """The due date was meant to be today, at a minute now past: after amy's and ben's
    submissions (the form takes minutes), before cleo's. The steps since ben's
    submission usually leave little of that minute to wait for."""
    url = f"{w.hub.url}{API}/ps1/submissions"
    submitted = [
        datetime.fromisoformat(
            httpx.get(url, headers=w.auth(n)).json()["attempts"][0]["submitted_at"]
        )
        for n in ("amy", "ben")
    ]
    corrected = max(submitted).replace(second=0, microsecond=0) + timedelta(minutes=1)
    while datetime.now(UTC) < corrected + timedelta(seconds=1):
        time.sleep(1)
    ines = w.pages["ines"]
    ines.goto(w.staff())
    ines.click("#edit")
    assert "in your time zone, Europe/Paris" in ines.inner_text("#edit-form")
    ines.fill("input[name=due]", typed(corrected, "ines"))
    _send(ines, "#save-edit")
    ines.wait_for_selector("#notice:has-text('Saved')")
    assert _facts(ines, "Due") == shown(corrected, "ines")
    assert ines.locator(".tag.late").count() == 0  # amy and ben were in time
    for name in STUDENTS:
        page = w.pages[name]
        page.goto(w.student())
        assert page.inner_text("#due") == shown(corrected, name), name
    w.shot("amy", "5-corrected-due-la")
    w.corrected = corrected


def _cleo_submits_late(w: Walk) -> None:
    released = w.hub.data_dir / "released" / COURSE / "ps1" / "ps1.ipynb"
    answers = {
        "square": "def square(x):\n    return x ** 2",
        "explain": "A square is x times x.",
        "table": "print([n ** 2 for n in range(5)])",
    }
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell.source = answers.get(grade_id, cell.source)
    _submit_file(w, "cleo", nbformat.writes(nb).encode())
    cleo = w.pages["cleo"]
    cleo.goto(w.student())
    cleo.wait_for_selector("#attempt-1[data-status=done]", timeout=300_000)
    assert "late by" in cleo.inner_text("#attempt-1 h3")


def _instructor_extends_cleo_from_paris(w: Walk) -> None:
    until, corrected = w.extended, w.corrected
    assert corrected is not None
    ines = w.pages["ines"]
    ines.goto(w.staff())
    assert ines.locator("tr[data-student=cleo] .tag.late").count() == 1
    ines.select_option("select[name=username]", "cleo")
    ines.fill("#extension input[name=due]", typed(until, "ines"))
    _send(ines, "#give-extension")
    ines.wait_for_selector("#notice:has-text('Extension saved')")
    assert ines.locator(".tag.late").count() == 0

    cleo = w.pages["cleo"]
    cleo.goto(w.student())
    due = cleo.inner_text("#due")
    assert due.startswith(shown(until, "cleo")) and "extended for you" in due, due
    assert f"everyone else: {shown(corrected, 'cleo')}" in due, due
    assert "late" not in cleo.inner_text("#attempt-1 h3")
    w.shot("cleo", "5-extended-auckland")


# ---- 6. the gradebook: what is left --------------------------------------------------


def _gradebook_says_what_is_left(w: Walk) -> None:
    ines = w.pages["ines"]
    ines.goto(w.staff())
    assert "needs grading (3)" in ines.inner_text("#filters")
    ines.click("#needs-grading")
    ines.wait_for_selector("tr[data-student=cleo]")
    listed = ines.locator("tr[data-student]").evaluate_all(
        "rows => rows.map(r => r.dataset.student)"
    )
    assert sorted(listed) == list(STUDENTS)
    cell = ines.locator("tr[data-student=ben] td[data-question=table]")
    assert cell.get_attribute("data-state") == "automatic" and "auto" in cell.inner_text()
    assert "so far" in ines.inner_text("tr[data-student=amy] td.total")
    w.shot("ines", "6-needs-grading")
    with ines.expect_download() as download:
        ines.click("#csv")
    rows = {r["username"]: r for r in csv.DictReader(io.StringIO(_read(download.value)))}
    assert {n: rows[n]["status"] for n in STUDENTS} == dict.fromkeys(STUDENTS, "needs grading")
    assert rows["amy"]["needs_grading"] == "explain; table"
    assert rows["ben"]["needs_grading"] == "explain (automatic 0); table (automatic 0)"
    assert (rows["amy"]["total"], rows["ben"]["total"], rows["cleo"]["total"]) == ("2", "0", "2")
    assert rows["cleo"]["late_minutes"] == "0"


def _read(download: Any) -> str:
    return Path(download.path()).read_text()


# ---- 7. the TA grades beside the answers, student after student ----------------------


GIVEN = {  # points and comments the TA gives
    "amy": {"explain": ("1", "Well put."), "table": ("2", "Right.")},
    "ben": {"explain": ("0", "Nothing written yet."), "table": ("0", "The cell raises.")},
    "cleo": {"explain": ("0.5", "Say why x times x is positive."), "table": ("2", "")},
}


def _ta_grades_beside_the_answers(w: Walk) -> None:
    tom = w.pages["tom"]
    _sign_in(tom, w.staff(), "tom")
    assert tom.locator("#extension, #unrelease, #edit").count() == 0  # instructors' part
    tom.click("tr[data-student=amy] a:text-is('amy')")
    assert "3 left to grade by hand" in tom.inner_text("#left")
    explain = tom.locator(".grade-question[data-question=explain]")
    explain.frame_locator("iframe.answer").get_by_text(AMY_WROTE).wait_for(timeout=30_000)
    answer = explain.locator("iframe.answer").bounding_box()
    points = explain.locator("input[name='points:explain']").bounding_box()
    assert answer and points and points["x"] > answer["x"] + answer["width"] / 2  # beside
    table = tom.locator(".grade-question[data-question=table]")
    ran = table.frame_locator("iframe.answer")  # amy never ran it; the grader did
    ran.get_by_text("range(5)").first.wait_for(timeout=30_000)
    assert "[0, 1, 4, 9, 16]" in ran.locator("body").inner_text()
    w.shot("tom", "7-grading-amy")
    table.scroll_into_view_if_needed()
    table.screenshot(path=str(SHOTS / "walk-7-grading-amy-table.png"))

    for name, left in (("amy", 2), ("ben", 1)):
        assert tom.inner_text("#student") == name
        _fill_grades(tom, GIVEN[name])
        _send(tom, "#save-next")
        tom.wait_for_selector("#notice:has-text('Grades saved')")
        assert f"{left} left to grade by hand" in tom.inner_text("#left")
    assert tom.inner_text("#student") == "cleo"
    cleo_table = tom.frame_locator(".grade-question[data-question=table] iframe.answer")
    cleo_table.get_by_text("n ** 2").first.wait_for(timeout=30_000)
    # cleo's own due date, read in Tokyo
    assert shown(w.extended, "tom") in tom.inner_text("p:has-text('Due for this student')")
    _fill_grades(tom, GIVEN["cleo"])
    _send(tom, "#save")
    tom.wait_for_selector("#notice:has-text('Grades saved')")
    assert "nothing left to grade by hand" in tom.inner_text("#left")
    tom.goto(w.staff())
    assert "needs grading (0)" in tom.inner_text("#filters")
    w.shot("tom", "7-gradebook-done")


def _fill_grades(page: Any, given: dict[str, tuple[str, str]]) -> None:
    for question, (points, comment) in given.items():
        page.fill(f"input[name='points:{question}']", points)
        page.fill(f"textarea[name='comment:{question}']", comment)


# ---- 8. the students see final totals and comments -----------------------------------


def _students_see_final_totals_and_comments(w: Walk) -> None:
    for name, total in (("amy", "5 / 5"), ("ben", "0 / 5"), ("cleo", "4.5 / 5")):
        page = w.pages[name]
        page.goto(w.student())
        attempt = page.inner_text("#attempt-1")
        assert f"{total} points" in attempt and "so far" not in attempt, (name, attempt)
        assert "awaiting" not in attempt and "to be graded" not in attempt, (name, attempt)
        for question, (_points, comment) in GIVEN[name].items():
            assert comment in _question(page, question), (name, question)

    amy = w.pages["amy"]
    amy.click("#attempt-1 a.feedback")
    amy.wait_for_selector("#total")
    assert amy.locator("header.topbar").count() == 1
    total = amy.inner_text("#total")
    assert "5 / 5 points" in total and "so far" not in total, total
    assert "Well put." in amy.inner_text("#questions tr[data-question=explain]")
    amy.frame_locator("iframe.notebook-view").get_by_text(AMY_WROTE).wait_for(timeout=30_000)
    w.shot("amy", "8-feedback")
    amy.click("#back")
    amy.wait_for_url(w.student())


# ---- 9. not for students -------------------------------------------------------------


def _students_cannot_open_staff_pages(w: Walk) -> None:
    ben = w.pages["ben"]
    for url in (w.url("staff", "assignments"), w.staff(), f"{w.staff()}/students/amy"):
        answer = ben.goto(url)
        assert answer is not None and answer.status == 403, url
        assert "instructors and teaching assistants" in ben.inner_text("main")
    refused = httpx.get(f"{w.hub.url}{API}/ps1/gradebook", headers=w.auth("ben"))
    assert refused.status_code == 403, refused.text
