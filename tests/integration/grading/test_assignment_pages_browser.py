"""Assignments in a real browser on a real hub: an instructor creates one by upload and
releases it; a student gets it into their course server (JupyterLab opens on it, and
its Course menu leads back to the assignments), submits with a double click (one
submission is stored), sees it graded in the sandbox with points; the instructor
grades the written answer by hand with a comment, gives an extension and exports the
CSV; the student sees the comment, the new total and the extension; the staff pages do
not exist for the student."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.assignments import answer_nbgrader, nbgrader_source
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.browserless import login
from tests.helpers.grading_site import grading_site
from tests.integration.conftest import Cleanup

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"sam": "sam-pass-123", "ines": "ines-pass-456"}
COURSE = "hw"
SERVICE = "/services/coursehub"
TITLE = "Squares & roots <week 3>"  # shown as written, never as markup


@pytest.fixture(scope="module")
def hub(cleanup: Cleanup) -> Iterator[hubproc.RunningHub]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    with grading_site(
        "assignment-pages", COURSE, USERS, {"ines": "instructor"}, later=cleanup.later
    ) as site:
        yield site


def _sign_in(page: Any, url: str, name: str) -> None:
    page.goto(url)
    page.fill("#username_input", name)
    page.fill("#password_input", USERS[name])
    page.click("#login_submit")
    page.wait_for_url(f"**{url.split('://', 1)[1].split('/', 1)[1]}", timeout=60_000)


def _write_answer(hub: hubproc.RunningHub) -> None:
    """The student's work, saved into their copy through their own server."""
    released = hub.data_dir / "released" / COURSE / "ps1" / "ps1.ipynb"
    answer = json.loads(answer_nbgrader(released, "    return x * x\n"))
    token = hub.user_token("sam")
    saved = httpx.put(
        f"{hub.url}/user/sam/{COURSE}/api/contents/assignments/ps1/ps1.ipynb",
        headers={"Authorization": f"token {token}"},
        json={"type": "notebook", "format": "json", "content": answer},
        timeout=30,
    )
    assert saved.status_code == 200, saved.text


def test_release_get_submit_grade_by_hand_and_see_it(
    hub: hubproc.RunningHub, tmp_path: Path
) -> None:
    source = nbgrader_source(tmp_path / "ps1") / "ps1.ipynb"
    login(hub.url, "sam", USERS["sam"])  # hub users exist from their first sign-in
    with chromium() as browser:
        teacher = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        student_context = browser.new_context(viewport={"width": 1200, "height": 900})
        student = student_context.new_page()
        try:
            _walk_through(hub, teacher, student, student_context, source)
        except Exception:
            for name, page in (("teacher", teacher), ("student", student)):
                with contextlib.suppress(Exception):
                    page.screenshot(
                        path=str(SHOTS / f"assignments-failed-{name}.png"), timeout=5000
                    )
            print(teacher.url, student.url, hub.log_tail())
            raise


def _walk_through(
    hub: hubproc.RunningHub, teacher: Any, student: Any, student_context: Any, source: Path
) -> None:
    staff_list = f"{hub.url}{SERVICE}/course/{COURSE}/staff/assignments"
    staff_page = f"{staff_list}/ps1"
    student_page = f"{hub.url}{SERVICE}/course/{COURSE}/assignments/ps1"
    yesterday = (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    # The instructor uploads the notebook (its title is hostile text) and releases it.
    _sign_in(teacher, staff_list, "ines")
    teacher.fill("input[name=name]", "ps1")
    teacher.fill("input[name=title]", TITLE)
    teacher.fill("input[name=due]", yesterday)
    teacher.set_input_files("input[name=files]", str(source))
    teacher.click("#create-assignment")
    teacher.wait_for_selector("#notice", timeout=120_000)
    assert "ready" in teacher.inner_text("#notice")
    assert teacher.inner_text("#title").startswith(TITLE)  # shown as text, not run
    assert "not yet" in teacher.inner_text("#released")
    teacher.click("#release")
    teacher.wait_for_selector("#notice:has-text('Released')")

    # The student finds it from the course page and gets it: JupyterLab opens on it.
    _sign_in(student, f"{hub.url}{SERVICE}/course/{COURSE}", "sam")
    student.click("a.button:has-text('Assignments')")
    student.wait_for_selector("tr[data-assignment=ps1]")
    assert TITLE in student.inner_text("tr[data-assignment=ps1]")
    student.click(f"text={TITLE}")
    student.click("#get")
    try:
        student.wait_for_url(
            "**/user/sam/hw/lab/tree/assignments/ps1/ps1.ipynb",
            timeout=180_000,
            wait_until="commit",
        )
        student.wait_for_selector(".jp-Notebook", timeout=120_000)
        student.wait_for_selector("h1:has-text('Problem set 1')", timeout=60_000)
    finally:
        student.screenshot(path=str(SHOTS / "assignment-in-lab.png"))
    # JupyterLab's Course menu leads back to this course's assignments.
    student.click(".lm-MenuBar-itemLabel:text-is('Course')")
    student.screenshot(path=str(SHOTS / "assignments-lab-menu.png"))
    with student_context.expect_page() as opened:
        student.click(".lm-Menu-itemLabel:has-text('Assignments')")
    from_lab = opened.value
    from_lab.wait_for_load_state()
    assert from_lab.url.endswith(f"{SERVICE}/course/{COURSE}/assignments"), from_lab.url
    assert TITLE in from_lab.inner_text("#assignments")
    from_lab.close()

    # Submit, and press Submit again before the page changed (a slow network holds the
    # first request back; it reaches the service first): one submission is stored.
    _write_answer(hub)
    student.goto(student_page)
    held: list[Any] = []
    posts: list[str] = []

    def slow_first(route: Any) -> None:
        posts.append(route.request.post_data or "")
        if not held:
            held.append(route)
            return
        held[0].fetch(max_redirects=0)
        route.continue_()

    student.route("**/assignments/ps1/submit", slow_first)
    box = student.locator("#submit").bounding_box()
    assert box is not None
    student.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    while not held:  # the first request is on its way
        student.wait_for_timeout(50)
    student.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    student.wait_for_selector("#notice", timeout=60_000)
    assert len(posts) == 2 and posts[0] == posts[1]  # the same form, sent twice
    assert "already arrived (attempt 1)" in student.inner_text("#notice")
    student.unroute("**/assignments/ps1/submit")
    student.wait_for_selector(".attempt[data-status=done]", timeout=300_000)
    assert student.locator(".attempt").count() == 1
    attempt = student.inner_text("#attempt-1")
    assert "late by" in attempt
    assert "2 / 2" in student.inner_text("#attempt-1 tr[data-question=test_square]")
    assert "to be graded" in student.inner_text("#attempt-1 tr[data-question=explain]")
    mine = httpx.get(
        f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments/ps1/submissions",
        headers={"Authorization": f"token {hub.user_token('sam')}"},
    ).json()
    assert [a["attempt"] for a in mine["attempts"]] == [1]
    assert student.locator("#attempt-1 a.feedback").count() == 1

    # The instructor sees the row, grades the written answer and gives an extension.
    teacher.goto(staff_page)
    row = teacher.locator("tr[data-student=sam]")
    assert row.locator("td[data-question=test_square]").inner_text() == "2"
    assert "to grade by hand" in row.inner_text()
    row.locator("a:text-is('sam')").click()
    teacher.fill("input[name='points:explain']", "1")
    comment = "Right: <b>any</b> real number squared is at least 0."
    teacher.fill("textarea[name='comment:explain']", comment)
    teacher.click("#save")
    teacher.wait_for_selector("#notice:has-text('Grades saved')")
    teacher.goto(staff_page)
    assert teacher.locator("tr[data-student=sam] td.total").inner_text() == "3"
    teacher.select_option("select[name=username]", "sam")
    teacher.fill("#extension input[name=due]", tomorrow)
    teacher.click("#give-extension")
    teacher.wait_for_selector("#notice:has-text('Extension saved')")
    teacher.screenshot(path=str(SHOTS / "assignments-staff.png"), full_page=True)
    with teacher.expect_download() as download:
        teacher.click("#csv")
    exported = Path(download.value.path()).read_text()
    rows = {r["username"]: r for r in csv.DictReader(io.StringIO(exported))}
    assert (rows["sam"]["test_square"], rows["sam"]["explain"], rows["sam"]["total"]) == (
        "2", "1", "3",
    )  # fmt: skip

    # The student sees the comment, the total and the extension.
    student.goto(student_page)
    assert comment in student.inner_text("#attempt-1 tr[data-question=explain]")
    assert "3 / 3 points" in student.inner_text("#attempt-1")
    assert "extended for you" in student.inner_text("#due")
    student.screenshot(path=str(SHOTS / "assignments-student.png"), full_page=True)

    # The staff pages refuse a student of the course (for their role).
    for url in (staff_list, staff_page, f"{staff_page}/students/sam"):
        answer = student.goto(url)
        assert answer is not None and answer.status == 403, url
        assert "instructors and teaching assistants" in student.inner_text("main")
