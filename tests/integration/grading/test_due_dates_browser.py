"""Deadlines across time zones in a real browser on a real hub: an instructor whose
browser is in Tokyo creates an assignment due at 00:30 on 22 December, her time, and
later gives a student an extension; the student, whose browser is in Los Angeles, sees
each deadline as the same moment in his own time, with the zone named; a browser
without scripts sees it in UTC, named."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from coursehub.core.times import input_value, local_zone
from coursehub.service.routes.assignments.views import time_zone
from tests.helpers import hubproc
from tests.helpers.assignments import nbgrader_source
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.grading_site import grading_site
from tests.integration.conftest import Cleanup

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"sam": "sam-pass-123", "ines": "ines-pass-456"}
COURSE = "tz"
SERVICE = "/services/coursehub"


@pytest.fixture(scope="module")
def hub(cleanup: Cleanup) -> Iterator[hubproc.RunningHub]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    with grading_site(
        "due-zones", COURSE, USERS, {"ines": "instructor"}, later=cleanup.later
    ) as site:
        yield site


def _sign_in(page: Any, url: str, name: str) -> None:
    page.goto(url)
    page.fill("#username_input", name)
    page.fill("#password_input", USERS[name])
    page.click("#login_submit")
    page.wait_for_url(f"**{url.split('://', 1)[1].split('/', 1)[1]}", timeout=60_000)


def test_a_deadline_set_in_tokyo_is_the_same_moment_in_los_angeles(
    hub: hubproc.RunningHub, tmp_path: Path
) -> None:
    source = nbgrader_source(tmp_path / "ps1") / "ps1.ipynb"
    with chromium() as browser:
        pages = {
            "tokyo": browser.new_context(timezone_id="Asia/Tokyo").new_page(),
            "la": browser.new_context(timezone_id="America/Los_Angeles").new_page(),
            "plain": browser.new_context(
                timezone_id="Asia/Tokyo", java_script_enabled=False
            ).new_page(),
        }
        try:
            _walk(hub, pages["tokyo"], pages["la"], pages["plain"], source)
        except Exception:
            for name, page in pages.items():
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(SHOTS / f"due-zones-failed-{name}.png"), timeout=5000)
            print(hub.log_tail())
            raise


def _walk(hub: hubproc.RunningHub, teacher: Any, student: Any, plain: Any, source: Path) -> None:
    staff_list = f"{hub.url}{SERVICE}/course/{COURSE}/staff/assignments"
    staff_page = f"{staff_list}/ps1"
    student_page = f"{hub.url}{SERVICE}/course/{COURSE}/assignments/ps1"

    # Tokyo: the form says it reads her time zone, and does.
    _sign_in(teacher, staff_list, "ines")
    assert "in your time zone, Asia/Tokyo" in teacher.inner_text("form.stacked")
    teacher.fill("input[name=name]", "ps1")
    teacher.fill("input[name=title]", "Across the date line")
    teacher.fill("input[name=due]", "2026-12-22T00:30")
    teacher.set_input_files("input[name=files]", str(source))
    teacher.click("#create-assignment")
    teacher.wait_for_selector("#notice", timeout=120_000)
    due_row = teacher.locator("table.facts tr:has(th:text-is('Due')) td")
    assert due_row.inner_text() == "2026-12-22 00:30 GMT+9"
    assert due_row.locator("time").get_attribute("datetime") == "2026-12-21T15:30:00Z"
    teacher.click("#release")
    teacher.wait_for_selector("#notice:has-text('Released')")

    # Los Angeles: the same moment, in his time: the morning of the 21st.
    _sign_in(student, student_page, "sam")
    assert student.inner_text("#due") == "2026-12-21 07:30 PST"
    student.goto(f"{hub.url}{SERVICE}/course/{COURSE}/assignments")
    assert "2026-12-21 07:30 PST" in student.inner_text("tr[data-assignment=ps1]")

    # Tokyo gives sam until 09:00 on the 23rd, her time; the field starts at the due
    # date in her zone.
    teacher.goto(staff_page)
    field = teacher.locator("#extension input[name=due]")
    assert field.input_value() == "2026-12-22T00:30"
    assert "in your time zone, Asia/Tokyo" in teacher.inner_text("#extension")
    teacher.select_option("select[name=username]", "sam")
    field.fill("2026-12-23T09:00")
    teacher.click("#give-extension")
    teacher.wait_for_selector("#notice:has-text('Extension saved')")
    assert "earlier" not in teacher.inner_text("#notice")

    # Los Angeles sees it at 16:00 on the 22nd, his time, and the others' date too.
    student.goto(student_page)
    due = student.inner_text("#due")
    assert due.startswith("2026-12-22 16:00 PST") and "extended for you" in due
    assert "2026-12-21 07:30 PST" in due
    student.screenshot(path=str(SHOTS / "due-zones-student-la.png"), full_page=True)

    # A browser without scripts: UTC, named; the form reads the server's zone, named,
    # and shows the due date in it.
    _sign_in(plain, student_page, "sam")
    assert plain.inner_text("#due").startswith("2026-12-23 00:00 UTC")
    staff = plain.context.browser.new_context(java_script_enabled=False).new_page()
    try:
        _sign_in(staff, staff_page, "ines")
        assert f"in {time_zone()}, the server's time zone" in staff.inner_text("#extension")
        assert staff.locator("#extension input[name=due]").input_value() == input_value(
            datetime(2026, 12, 21, 15, 30, tzinfo=UTC), local_zone()
        )
    finally:
        staff.context.close()
