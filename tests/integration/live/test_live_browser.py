"""The live class view in a real browser: an instructor's dashboard updates while a
student, in a second browser, edits and saves in JupyterLab; hostile output never runs
on the instructor's side."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import hubproc
from tests.helpers.browser import CHROMIUM, SHOTS, chromium

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"nina": "nina-pass-123", "ivan": "ivan-pass-456"}
COURSE = "live"
NOTEBOOK = "lab1.ipynb"
# Student output that would phone home if any of it ran: a script and an onerror image.
HOSTILE = (
    "from IPython.display import HTML, display\n"
    'display(HTML(\'<b>hi</b><script>fetch("/pwned-script")</script>'
    '<img src="x" onerror="fetch(\\\'/pwned-img\\\')">\'))\n'
    "print('<script>fetch(\"/pwned-text\")</script>')"
)


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    cell = {
        "cell_type": "code",
        "id": "c1",
        "metadata": {},
        "source": "x = 1",
        "outputs": [],
        "execution_count": None,
    }
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    repo = make_course_repo({NOTEBOOK: json.dumps(nb), "course.yaml": "title: Live lab\n"})
    staff = {"ivan": "instructor"}
    live = hubproc.Course(repo, ("nina",), staff)
    return start_hub("live-browser", users=USERS, roles=staff, courses={COURSE: live})


def _sign_in(page, url: str, name: str) -> None:  # noqa: ANN001
    page.goto(url)
    page.fill("#username_input", name)
    page.fill("#password_input", USERS[name])
    page.click("#login_submit")


def test_dashboard_follows_a_student_and_runs_none_of_their_output(
    hub: hubproc.RunningHub,
) -> None:
    service = f"{hub.url}/services/coursehub"
    with chromium() as browser:
        teacher_ctx = browser.new_context(viewport={"width": 1300, "height": 900})
        phoned_home: list[str] = []
        teacher_ctx.on("request", lambda r: phoned_home.append(r.url) if "pwned" in r.url else None)
        teacher = teacher_ctx.new_page()
        dialogs: list[str] = []
        teacher.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        _sign_in(teacher, f"{service}/course/{COURSE}/live/nb/{NOTEBOOK}", "ivan")
        teacher.wait_for_selector("#live-grid[data-connected='1']", timeout=60_000)
        card = teacher.locator("article.live-card[data-user='nina']")
        assert card.get_attribute("data-status") == "not_started"
        teacher.evaluate("window.__stillTheSamePage = true")

        student_ctx = browser.new_context(viewport={"width": 1300, "height": 900})
        student = student_ctx.new_page()
        _sign_in(student, f"{service}/open/{COURSE}/{NOTEBOOK}", "nina")
        try:
            student.wait_for_url("**/user/nina/live/lab/**", timeout=180_000, wait_until="commit")
            student.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=120_000)
            # Opening is reported: the card leaves "not started" without a reload.
            teacher.wait_for_selector(
                "article.live-card[data-user='nina']:not([data-status='not_started'])",
                timeout=30_000,
            )
            # Run only once the kernel is ready (JupyterLab drops runs while it starts).
            student.wait_for_selector(".jp-StatusBar-Widget >> text=/\\| Idle/", timeout=120_000)
            editor = student.locator(".jp-Notebook .jp-Cell .cm-content").first
            editor.click()
            student.keyboard.press("Control+a")
            student.keyboard.insert_text(HOSTILE)
            student.keyboard.press("Shift+Enter")
            student.wait_for_selector(".jp-OutputArea-output", timeout=120_000)
            student.keyboard.press("Control+s")
            # The save reaches the dashboard: the tail shows the code as text.
            teacher.wait_for_function(
                "() => { const c = document.querySelector(\"article[data-user='nina']\");"
                " return c && c.textContent.includes('pwned-text') && c.dataset.sha; }",
                timeout=30_000,
            )
        finally:
            student.screenshot(path=str(SHOTS / "live-student.png"))
            teacher.screenshot(path=str(SHOTS / "live-dashboard.png"), full_page=True)
        assert teacher.evaluate("window.__stillTheSamePage === true"), "the dashboard reloaded"
        text = card.inner_text()
        assert "<script>" in text  # shown as text, not run
        assert card.get_attribute("data-status") in ("working", "finished")
        assert int(teacher.locator("#live-grid").get_attribute("data-updates") or 0) >= 2

        # The whole notebook, in its sandboxed frame: rendered, inert.
        card.locator("text=Open in full").click()
        teacher.wait_for_selector("iframe.notebook-view", timeout=30_000)
        frame = teacher.frame_locator("iframe.notebook-view")
        frame.locator("text=hi").first.wait_for(timeout=60_000)
        teacher.wait_for_timeout(1500)  # time for anything that would run to run
        teacher.screenshot(path=str(SHOTS / "live-full-view.png"), full_page=True)
        assert teacher.locator("iframe.notebook-view").get_attribute("sandbox") == ""
    assert phoned_home == [], phoned_home
    assert dialogs == []
