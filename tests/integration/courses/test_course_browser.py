"""A student in a real browser: sign in, the course page, a notebook open in JupyterLab."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coursehub.ops.init_site import _demo_course
from tests.helpers import hubproc
from tests.helpers.browser import CHROMIUM, SHOTS, chromium

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"nina": "nina-pass-123", "ivan": "ivan-pass-456"}


@pytest.fixture(scope="module")
def repo() -> Iterator[Path]:
    repo = _demo_course(Path(f"/tmp/coursehub-test-demo-{secrets.token_hex(4)}"))
    yield repo
    shutil.rmtree(repo, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(start_hub: Callable[..., hubproc.RunningHub], repo: Path) -> hubproc.RunningHub:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    staff = {"ivan": "instructor"}
    demo = hubproc.Course(repo, ("nina",), staff)
    return start_hub("course-browser", users=USERS, roles=staff, courses={"demo": demo})


def test_student_walks_from_sign_in_to_an_open_course_notebook(
    hub: hubproc.RunningHub,
) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(f"{hub.url}/services/coursehub/")
        page.fill("#username_input", "nina")
        page.fill("#password_input", USERS["nina"])
        page.click("#login_submit")
        page.wait_for_selector("text=Demo course", timeout=60_000)
        page.screenshot(path=str(SHOTS / "home.png"))
        page.click("text=Demo course")
        page.wait_for_selector("text=Python basics", timeout=30_000)
        body = page.inner_text("body")
        assert "Extras" in body and "not opened" in body, body
        page.screenshot(path=str(SHOTS / "course-page.png"), full_page=True)
        page.click("text=basics/02-data.ipynb")
        try:
            page.wait_for_url("**/user/nina/demo/lab/**", timeout=180_000, wait_until="commit")
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            heading = "h1:has-text('Working with the course data')"
            page.wait_for_selector(heading, timeout=60_000)
        finally:
            page.screenshot(path=str(SHOTS / "course-notebook.png"))
        assert "02-data.ipynb" in page.url
        # A MyST Markdown notebook opens as a notebook (Jupytext), not as text.
        page.goto(f"{hub.url}/services/coursehub/open/demo/extras/03-myst.md")
        try:
            page.wait_for_url("**/lab/tree/extras/03-myst.md", timeout=60_000)
            # (the notebook opened before stays open in a hidden tab)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell >> visible=true", timeout=120_000)
        finally:
            page.screenshot(path=str(SHOTS / "course-myst.png"))
        # Back on the course page, the opened notebooks say so.
        page.goto(f"{hub.url}/services/coursehub/course/demo")
        row = page.locator("tr[data-notebook='basics/02-data.ipynb']")
        assert "opened" in row.inner_text()
    workspace = hub.home_root / hub.unix_name("nina") / "courses" / "demo" / "basics"
    assert (workspace / "02-data.ipynb").is_file()
    assert (workspace / "data").is_symlink()


def test_instructor_pulls_from_the_staff_page_and_sees_the_output(
    hub: hubproc.RunningHub,
) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{hub.url}/services/coursehub/course/demo/staff")
        page.fill("#username_input", "ivan")
        page.fill("#password_input", USERS["ivan"])
        page.click("#login_submit")
        page.wait_for_selector("text=Pull now", timeout=60_000)
        assert "not built yet" in page.inner_text("#environment")
        page.screenshot(path=str(SHOTS / "staff-page.png"), full_page=True)
        page.click("text=Pull now")
        page.wait_for_selector("#outcome", timeout=60_000)
        assert "Already up to date" in page.inner_text("#outcome")
        assert "$ git fetch" in page.inner_text("#output")
        page.screenshot(path=str(SHOTS / "staff-pull.png"))
