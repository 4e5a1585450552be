"""Answers graded by hand on a real hub, with nbgrader's own user-guide problem set
(ps1, as shipped in the nbgrader package; a hidden test added to one test cell): a
student leaves the code answer `sum_of_squares_application` as handed out (its
`raise NotImplementedError()` untouched), writes another answer, breaks a test, and
puts HTML with scripts into an output. The real grader grades it in the sandbox.

In Chromium the student submits and the banner turns into the result when grading
ends; the attempt is "awaiting grading by hand", the untouched answer an automatic 0;
the feedback page has the site's header, the total so far, the failing test's line and
a way back, and the student's scripts do not run, for the student nor for the
instructor. The gradebook's "needs grading" filter and CSV say what is left; once the
instructor grades the answers, everything is final. nbgrader logs no checksum warning
for the untouched test cells.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import nbgrader
import pytest

from tests.helpers import hubproc
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.browserless import login, start_server
from tests.helpers.grading_site import grading_site
from tests.integration.conftest import Cleanup

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"kim": "kim-pass-123", "ines": "ines-pass-456"}
COURSE = "fb"
SERVICE = "/services/coursehub"
API = f"{SERVICE}/api/courses/{COURSE}/assignments/ps1"
USER_GUIDE = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide" / "source" / "ps1"
PAYLOAD = (
    "<b id='kim-html'>hello</b>"
    "<script>top.document.title='pwned'; fetch('/pwned-script');</script>"
    "<img src='/pwned-img' onerror=\"top.location='https://evil.example/'\">"
)
MANUAL = {
    "sum_of_squares_equation": "awaiting grading",
    "sum_of_squares_application": "automatic",  # the untouched raise NotImplementedError()
    "cell-938593c4a215c6cc": "awaiting grading",  # a task cell
    "part-a": "automatic",  # problem2.ipynb handed in as handed out
    "part-b": "automatic",
}


def _source(folder: Path) -> Path:
    """The user guide's ps1, with hidden tests in correct_sum_of_squares."""
    shutil.copytree(USER_GUIDE, folder)
    path = folder / "problem1.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "correct_sum_of_squares":
            cell.source += (
                "\n### BEGIN HIDDEN TESTS\nassert sum_of_squares(3) == 14\n### END HIDDEN TESTS"
            )
    nbformat.write(nb, path)
    return folder


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, cleanup: Cleanup) -> Iterator[hubproc.RunningHub]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    if not USER_GUIDE.is_dir():
        pytest.skip("this nbgrader package ships without its user guide's problem set")
    source = _source(tmp_path_factory.mktemp("sources") / "ps1")
    with grading_site(
        "manual-grading", COURSE, USERS, {"ines": "instructor"}, later=cleanup.later
    ) as site:
        for args in (
            ("assignment", "create", COURSE, "ps1", "--from", str(source), "--title", "PS 1"),
            ("assignment", "release", COURSE, "ps1"),
        ):
            done = site.cli(*args)
            assert done.returncode == 0, done.stdout + done.stderr
        yield site


def _kims_work(hub: hubproc.RunningHub) -> dict[str, Any]:
    """problem1.ipynb as kim saves it: squares off by one, sum_of_squares written, the
    equation answered, the application left as handed out, and an output of HTML."""
    released = hub.data_dir / "released" / COURSE / "ps1" / "problem1.ipynb"
    nb = nbformat.read(released, as_version=4)
    answers = {
        "squares": "def squares(n):\n    if n < 1:\n        raise ValueError('n < 1')\n"
        "    return [i ** 2 for i in range(1, n)]",
        "sum_of_squares": "def sum_of_squares(n):\n    return sum(squares(n))",
        "sum_of_squares_equation": "$\\sum_{i=1}^{n} i^2$",
    }
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    code = f"from IPython.display import HTML, display\ndisplay(HTML({PAYLOAD!r}))"
    cell = nbformat.v4.new_code_cell(code)
    cell.pop("id")  # the user guide's notebooks are nbformat 4.4: cells without ids
    nb.cells.insert(1, cell)
    return json.loads(nbformat.writes(nb))


def _sign_in(page: Any, url: str, name: str) -> None:
    page.goto(url)
    page.fill("#username_input", name)
    page.fill("#password_input", USERS[name])
    page.click("#login_submit")
    page.wait_for_url(f"**{url.split('://', 1)[1].split('/', 1)[1]}**", timeout=60_000)


class Watch:
    """What a page asked for and what reached a server: requests, answers, dialogs."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []
        self.answered: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.dialogs: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("response", lambda r: self.answered.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append((r.url, r.failure or "")))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def check_inert(self) -> None:
        """Kim's script never ran (its fetch was never even asked for), nothing led
        away, and the image her markup names was refused by the frame's policy."""
        assert not [u for u in self.requests if "pwned-script" in u or "evil.example" in u]
        assert not [u for u in self.answered if "pwned" in u]
        refused = [(u, why) for u, why in self.failed if "pwned" in u]
        assert all("csp" in why.lower() for _, why in refused), refused
        assert self.dialogs == []


def _check_feedback_inert(page: Any, watch: Watch, hub: hubproc.RunningHub) -> None:
    """The graded notebook is shown, and nothing of kim's ran on the service's origin."""
    frame = page.frame_locator("iframe.notebook-view")
    frame.locator("#kim-html").wait_for(timeout=30_000)  # her output is there, as markup
    assert page.locator("iframe.notebook-view").get_attribute("sandbox") == ""
    page.wait_for_timeout(1000)  # time for anything that would run
    assert "pwned" not in page.title() and page.url.startswith(hub.url)
    watch.check_inert()
    assert page.evaluate("localStorage.length") == 0


def test_an_answer_left_as_handed_out_waits_for_a_person_to_the_end(
    hub: hubproc.RunningHub,
) -> None:
    kim = login(hub.url, "kim", USERS["kim"])
    events = start_server(kim, "kim", server=COURSE)
    assert events and events[-1].get("ready"), events
    token = hub.user_token("kim")
    fetched = httpx.post(f"{hub.url}{API}/fetch", headers={"Authorization": f"token {token}"})
    assert fetched.status_code == 200, fetched.text
    saved = httpx.put(
        f"{hub.url}/user/kim/{COURSE}/api/contents/assignments/ps1/problem1.ipynb",
        headers={"Authorization": f"token {token}"},
        json={"type": "notebook", "format": "json", "content": _kims_work(hub)},
        timeout=30,
    )
    assert saved.status_code == 200, saved.text
    with chromium() as browser:
        student = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        teacher = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        try:
            _walk(hub, student, teacher)
        except Exception:
            for name, page in (("student", student), ("teacher", teacher)):
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(SHOTS / f"manual-grading-{name}.png"), timeout=5000)
            print(student.url, teacher.url, hub.log_tail(200))
            raise
    log = hub.log.read_text(errors="replace") if hub.log else ""
    assert "Attribute 'checksum'" not in log and "has changed!" not in log


def _walk(hub: hubproc.RunningHub, student: Any, teacher: Any) -> None:
    page_url = f"{hub.url}{SERVICE}/course/{COURSE}/assignments/ps1"
    staff_url = f"{hub.url}{SERVICE}/course/{COURSE}/staff/assignments/ps1"

    # Kim submits; the banner says it is being graded, then turns into the result.
    _sign_in(student, page_url, "kim")
    student.click("#submit")
    student.wait_for_url("**submitted=1", timeout=60_000)
    first = student.inner_text("#notice")
    assert "is being graded" in first or "is graded" in first, first
    student.wait_for_selector("#notice:has-text('is graded:')", timeout=300_000)
    banner = student.inner_text("#notice")
    assert "so far" in banner and "graded by hand" in banner, banner
    attempt = student.inner_text("#attempt-1")
    assert "awaiting grading by hand" in attempt and "points so far" in attempt
    row = student.inner_text("#attempt-1 tr[data-question=sum_of_squares_application]")
    assert "automatic 0 · to be graded" in row, row
    row = student.inner_text("#attempt-1 tr[data-question=sum_of_squares_equation]")
    assert "to be graded" in row and "automatic" not in row, row

    token = hub.user_token("kim")
    mine = httpx.get(f"{hub.url}{API}/submissions", headers={"Authorization": f"token {token}"})
    (result,) = mine.json()["attempts"]
    questions = result["questions"]
    assert {q: questions[q]["state"] for q in MANUAL} == MANUAL, json.dumps(questions)
    assert questions["sum_of_squares_application"]["points"] == 0
    assert questions["squares_invalid_input"]["points"] == 1
    correct = questions["correct_squares"]
    assert (correct["points"], correct["passed"]) == (0, False)
    assert correct["message"] == "line 2: assert squares(1) == [1]\nAssertionError", correct
    hidden = questions["correct_sum_of_squares"]["message"]
    assert "14" not in hidden and "HIDDEN" not in hidden  # the hidden test stays hidden
    assert result["pending_manual"] is True and set(result["to_grade"]) == set(MANUAL)
    so_far, most = result["total"], result["max"]

    # The feedback page: the site's page around the sandboxed notebook.
    watch = Watch(student)
    student.click("#attempt-1 a.feedback:text-is('problem1.ipynb')")
    student.wait_for_selector("#total")
    assert student.locator("header.topbar").count() == 1
    total = student.inner_text("#total")
    assert f"{so_far:g} / {most:g} points so far" in total and "not final" in total, total
    failing = student.inner_text("#questions tr[data-question=correct_squares]")
    assert "line 2: assert squares(1) == [1]" in failing and "AssertionError" in failing
    _check_feedback_inert(student, watch, hub)
    student.screenshot(path=str(SHOTS / "feedback-page.png"), full_page=True)
    student.click("#back")
    student.wait_for_url(page_url)

    # The instructor: the filter shows what is left; kim's feedback stays inert for her.
    _sign_in(teacher, staff_url, "ines")
    assert "needs grading (1)" in teacher.inner_text("#filters")
    teacher.click("#needs-grading")
    teacher.wait_for_selector("tr[data-student=kim]")
    cell = teacher.locator("tr[data-student=kim] td[data-question=sum_of_squares_application]")
    assert cell.inner_text().startswith("0") and cell.get_attribute("data-state") == "automatic"
    assert "to grade by hand" in teacher.inner_text("tr[data-student=kim]")
    staff_watch = Watch(teacher)
    teacher.goto(f"{page_url}/feedback/{result['id']}?notebook=problem1.ipynb")
    assert "kim" in teacher.inner_text("#attempt")
    _check_feedback_inert(teacher, staff_watch, hub)
    staff_token = hub.user_token("ines")
    staff = {"Authorization": f"token {staff_token}"}
    exported = httpx.get(f"{hub.url}{API}/gradebook.csv", headers=staff).text
    (line,) = csv.DictReader(io.StringIO(exported))
    assert line["status"] == "needs grading"
    assert "sum_of_squares_application (automatic 0)" in line["needs_grading"]

    # She grades every answer by hand (the untouched one: 0 again, by a person).
    given = {
        "sum_of_squares_equation": 1,
        "sum_of_squares_application": 0,
        "cell-938593c4a215c6cc": 2,
        "part-a": 0,
        "part-b": 0,
    }
    for question, points in given.items():
        body = {"submission": result["id"], "question": question, "points": points}
        saved = httpx.post(f"{hub.url}{API}/manual", headers=staff, json=body)
        assert saved.status_code == 200, saved.text
    teacher.goto(staff_url)
    assert "needs grading (0)" in teacher.inner_text("#filters")
    assert teacher.inner_text("tr[data-student=kim] .status") == "graded"
    exported = httpx.get(f"{hub.url}{API}/gradebook.csv", headers=staff).text
    (line,) = csv.DictReader(io.StringIO(exported))
    assert (line["status"], line["needs_grading"]) == ("graded", "")
    final = so_far + sum(given.values())
    assert float(line["total"]) == final

    student.goto(f"{page_url}?submitted=1")
    attempt = student.inner_text("#attempt-1")
    assert f"{final:g} / {most:g} points" in attempt and "so far" not in attempt
    assert "awaiting" not in attempt
    assert f"is graded: {final:g} / {most:g} points." in student.inner_text("#notice")
