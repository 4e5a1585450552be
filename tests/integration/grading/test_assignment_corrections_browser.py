"""Correcting an assignment and grading by hand, in a real browser on a real hub.

The instructor's bad uploads (a .txt, a notebook without grading marks, broken JSON, a
65-character name, a 160-character title) are told in words on the form, filled in
again, with no server path and no command-line advice; a good one is previewed as
students get it (no solution). Two students get it and submit; one's written answer
is hostile HTML. The TA grades by hand on a page that shows each answer beside its
fields, goes from student to student and counts what is left; the hostile answer runs
nothing in the TA's browser. The instructor corrects the due date alone (lateness is
measured again), un-releases (the students no longer see it, their copies stay),
and deletes it: refused until confirmed again, then kept in a backup file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from coursehub.courses.servers import workspace_for
from tests.helpers import hubproc
from tests.helpers.assignments import answer_nbgrader, nbgrader_source
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.browserless import login, start_server
from tests.helpers.grading_site import grading_site
from tests.integration.conftest import Cleanup

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"ines": "ines-pass-456", "tom": "tom-pass-789", "sam": "sam-pass-123",
         "amy": "amy-pass-321"}  # fmt: skip
COURSE = "hw"
SERVICE = "/services/coursehub"
# Would show a dialog, retitle the TA's page, and call the service as the TA.
HOSTILE = (
    "Because <script>alert('x'); parent.document.title = 'pwned';"
    "fetch('/services/coursehub/pwned-script', {credentials: 'include'})</script>"
    "<img src=x onerror=\"fetch('/services/coursehub/pwned-img')\"> squares are positive."
)


@pytest.fixture(scope="module")
def hub(cleanup: Cleanup) -> Iterator[hubproc.RunningHub]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    staff = {"ines": "instructor", "tom": "ta"}
    with grading_site("assignment-corrections", COURSE, USERS, staff, later=cleanup.later) as site:
        yield site


def _sign_in(page: Any, url: str, name: str) -> None:
    page.goto(url)
    page.fill("#username_input", name)
    page.fill("#password_input", USERS[name])
    page.click("#login_submit")
    page.wait_for_url(f"**{url.split('://', 1)[1].split('/', 1)[1]}", timeout=60_000)


def _auth(hub: hubproc.RunningHub, name: str) -> dict[str, str]:
    return {"Authorization": f"token {hub.user_token(name)}"}


def test_correct_grade_unrelease_and_delete_an_assignment(
    hub: hubproc.RunningHub, tmp_path: Path
) -> None:
    source = nbgrader_source(tmp_path / "ps1") / "ps1.ipynb"
    for name in USERS:
        login(hub.url, name, USERS[name])  # hub users exist from their first sign-in
    with chromium() as browser:
        pages = {
            name: browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            for name in ("ines", "tom", "sam")
        }
        try:
            _walk_through(hub, pages, source, tmp_path)
        except Exception:
            for name, page in pages.items():
                with contextlib.suppress(Exception):
                    shot = SHOTS / f"corrections-failed-{name}.png"
                    page.screenshot(path=str(shot), timeout=5000)
            print({n: p.url for n, p in pages.items()}, hub.log_tail())
            raise


def _create_refused(page: Any, hub: hubproc.RunningHub, fields: dict[str, str], file: Path) -> str:
    """Send the creation form; the mistake shown on it, checked to be in words and
    to come with the form filled in again."""
    for field in ("name", "title"):  # what the browser would stop, a forged page sends
        page.eval_on_selector(f"input[name={field}]", "e => e.removeAttribute('maxlength')")
    for field, value in fields.items():
        page.fill(f"input[name={field}]", value)
    page.set_input_files("input[name=files]", str(file))
    page.click("#create-assignment")
    page.wait_for_selector("#create-error", timeout=120_000)
    message = page.inner_text("#create-error")
    for field, value in fields.items():
        assert page.input_value(f"input[name={field}]") == value, field
    main = page.inner_text("main")
    for leak in ("/tmp", str(hub.data_dir), "Bad Request", "Traceback"):
        assert leak not in main, (leak, main)
    assert not re.search(r"(^|\s)--\w", main), main
    return message


def _walk_through(
    hub: hubproc.RunningHub, pages: dict[str, Any], source: Path, tmp_path: Path
) -> None:
    teacher, ta, student = pages["ines"], pages["tom"], pages["sam"]
    staff_list = f"{hub.url}{SERVICE}/course/{COURSE}/staff/assignments"
    staff_page = f"{staff_list}/ps1"
    yesterday = (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    next_week = (datetime.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")

    # Bad uploads: each told in words on the form, filled in again.
    _sign_in(teacher, staff_list, "ines")
    fields = {"name": "ps1", "title": "Squares", "due": yesterday}
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    plain = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), plain)
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [\n  {"cell_type": "code",\n')
    for file, expected in (
        (notes, "None of the files (notes.txt) is a notebook"),
        (plain, "The notebook plain.ipynb has no grading marks"),
        (broken, "its JSON is broken at line 3"),
    ):
        message = _create_refused(teacher, hub, fields, file)
        assert expected in message and "Choose the files again" in message, message
    teacher.screenshot(path=str(SHOTS / "corrections-bad-upload.png"), full_page=True)
    long_name = {**fields, "name": "p" * 65}
    assert "at most 64" in _create_refused(teacher, hub, long_name, source)
    long_title = {**fields, "title": "Squares and square roots, " * 6 + "week 3"}
    assert len(long_title["title"]) == 162
    assert "at most 120" in _create_refused(teacher, hub, long_title, source)
    listed = httpx.get(f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments",
                       headers=_auth(hub, "ines")).json()  # fmt: skip
    assert listed["assignments"] == []  # nothing half made

    # A good upload; the preview shows what students get, without the solution.
    teacher.fill("input[name=name]", "ps1")
    teacher.fill("input[name=title]", "Squares")
    teacher.set_input_files("input[name=files]", str(source))
    teacher.click("#create-assignment")
    teacher.wait_for_selector("#notice", timeout=120_000)
    teacher.click("#preview")
    shown = teacher.frame_locator("iframe.notebook-view").locator("body")
    shown.get_by_text("def square").first.wait_for(timeout=30_000)
    text = shown.inner_text()
    assert "raise NotImplementedError" in text and "x * x" not in text
    assert "BEGIN SOLUTION" not in text and "HIDDEN" not in text
    teacher.goto(staff_page)

    # Two students with servers get it on release, and submit (sam's answer is hostile).
    for name in ("sam", "amy"):
        events = start_server(login(hub.url, name, USERS[name]), name, server=COURSE)
        assert events and events[-1].get("ready"), events
    teacher.click("#release")
    teacher.wait_for_selector("#notice:has-text('copied into 2 workspaces')")
    released = hub.data_dir / "released" / COURSE / "ps1" / "ps1.ipynb"
    for name, body, text in (("amy", "    return x ** 2\n", "A square is x times x."),
                             ("sam", "    return x * x\n", HOSTILE)):  # fmt: skip
        nb = json.loads(answer_nbgrader(released, body))
        for cell in nb["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == "explain":
                cell["source"] = text
        sent = httpx.post(
            f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments/ps1/submit",
            headers=_auth(hub, name),
            files={"files": ("ps1.ipynb", json.dumps(nb).encode(), "application/json")},
            timeout=60,
        )
        assert sent.status_code == 201, sent.text
    _wait_graded(hub, ("sam", "amy"))

    # The TA grades by hand: each answer beside its fields, student after student.
    dialogs: list[str] = []
    requests: list[str] = []
    ta.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    ta.on("request", lambda r: requests.append(r.url))
    _sign_in(ta, staff_page, "tom")
    ta.locator("tr[data-student=amy] a:text-is('amy')").click()
    assert "2 left to grade by hand" in ta.inner_text("#left")
    block = ta.locator(".grade-question[data-question=explain]")
    frame = block.frame_locator("iframe.answer").locator("body")
    frame.get_by_text("A square is x times x.").wait_for(timeout=30_000)
    assert block.locator("input[name='points:explain']").is_visible()
    assert block.locator("textarea[name='comment:explain']").is_visible()
    answer_box = block.locator("iframe.answer").bounding_box()
    points_box = block.locator("input[name='points:explain']").bounding_box()
    assert answer_box and points_box and points_box["x"] > answer_box["x"] + answer_box["width"] / 2
    tested = ta.locator(".grade-question[data-question=test_square]")
    tested.frame_locator("iframe.answer").get_by_text("x ** 2").wait_for(timeout=30_000)
    assert ta.get_attribute("#next", "href").endswith("/students/sam")
    block.locator("input[name='points:explain']").fill("1")
    block.locator("textarea[name='comment:explain']").fill("Right.")
    ta.click("#save-next")  # saves amy's, then shows sam's
    ta.wait_for_selector("#notice:has-text('Grades saved')")
    assert ta.inner_text("#student") == "sam"
    assert "1 left to grade by hand" in ta.inner_text("#left")
    assert ta.get_attribute("#previous", "href").endswith("/students/amy")
    hostile = ta.locator(".grade-question[data-question=explain] iframe.answer")
    assert "allow-scripts" not in (hostile.get_attribute("sandbox") or "x")
    hostile_body = ta.frame_locator(".grade-question[data-question=explain] iframe.answer")
    hostile_body.get_by_text("squares are positive").wait_for(timeout=30_000)
    ta.wait_for_timeout(1500)  # time for a script or onerror to have run, had it been let
    ta.screenshot(path=str(SHOTS / "corrections-grading.png"), full_page=True)
    assert dialogs == [] and "pwned" not in ta.title()
    assert not [u for u in requests if "pwned" in u], requests
    ta.fill("input[name='points:explain']", "0.5")
    ta.click("#save")
    ta.wait_for_selector("#notice:has-text('Grades saved')")
    assert "nothing left to grade by hand" in ta.inner_text("#left")

    # The instructor corrects the due date alone: the late marks go, nothing else moves.
    api = f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments"
    before = httpx.get(api, headers=_auth(hub, "ines")).json()["assignments"][0]
    teacher.goto(staff_page)
    assert teacher.locator("tr[data-student=sam] .tag.late").count() == 1
    teacher.click("#edit")
    assert teacher.input_value("input[name=title]") == "Squares"
    teacher.fill("input[name=due]", next_week)
    teacher.click("#save-edit")
    teacher.wait_for_selector("#notice:has-text('measured again')")
    teacher.screenshot(path=str(SHOTS / "corrections-staff.png"), full_page=True)
    assert teacher.locator(".tag.late").count() == 0
    after = httpx.get(api, headers=_auth(hub, "ines")).json()["assignments"][0]
    assert after["due_at"] != before["due_at"]
    assert {k: v for k, v in after.items() if k != "due_at"} == {
        k: v for k, v in before.items() if k != "due_at"
    }
    assert "0.5" in teacher.inner_text("tr[data-student=sam] td[data-question=explain]")

    # Un-release: the student no longer sees it; their copy stays.
    teacher.click("#unrelease")
    teacher.wait_for_selector("#notice:has-text('Un-released')")
    assert "Copies they already got stay" in teacher.inner_text("#notice")
    _sign_in(student, f"{hub.url}{SERVICE}/course/{COURSE}/assignments", "sam")
    assert "Squares" not in student.inner_text("#assignments")
    gone = student.goto(f"{hub.url}{SERVICE}/course/{COURSE}/assignments/ps1")
    assert gone is not None and gone.status == 404
    assert "took it back" in student.inner_text("main")
    home = Path(f"{hub.home_root}/{hub.unix_name('sam')}")
    assert (workspace_for(home, COURSE) / "assignments" / "ps1" / "ps1.ipynb").is_file()
    refused = httpx.post(f"{api}/ps1/submit", headers=_auth(hub, "sam"), timeout=60)
    assert refused.status_code == 404 and "neither got nor submitted" in refused.text

    # Delete: refused until confirmed again, then kept in a backup file.
    teacher.click("#delete")
    assert "2 submissions" in teacher.inner_text("#has-submissions")
    teacher.click("#confirm-delete")
    teacher.wait_for_selector("#delete-error")
    assert "was not deleted" in teacher.inner_text("#delete-error")
    assert httpx.get(api, headers=_auth(hub, "ines")).json()["assignments"] != []
    teacher.fill("input[name=confirm_name]", "ps1")
    teacher.click("#confirm-delete")
    teacher.wait_for_selector("#notice:has-text('Deleted ps1')")
    notice = teacher.inner_text("#notice")
    teacher.screenshot(path=str(SHOTS / "corrections-deleted.png"), full_page=True)
    backup = re.search(rf"{COURSE}-ps1-\d{{8}}T\d{{6}}Z\.tar\.gz", notice)
    assert backup, notice
    assert (hub.data_dir / "backups" / "deleted-assignments" / backup.group(0)).is_file()
    assert httpx.get(api, headers=_auth(hub, "ines")).json()["assignments"] == []


def _wait_graded(hub: hubproc.RunningHub, students: tuple[str, ...]) -> None:
    import time

    deadline = time.monotonic() + 300
    for name in students:
        url = f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments/ps1/submissions"
        while True:
            mine = httpx.get(url, headers=_auth(hub, name)).json()
            if mine["attempts"] and mine["attempts"][-1]["status"] in ("done", "failed"):
                break
            assert time.monotonic() < deadline, (mine, hub.log_tail())
            time.sleep(1)
