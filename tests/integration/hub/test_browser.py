"""What a student sees, in a real browser: sign in, land on My courses, their role."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import hubproc

pytestmark = [pytest.mark.integration, pytest.mark.root]

CHROMIUM = "/usr/bin/chromium"
USERS = {"dana": "dana-pass-123", "prof": "prof-pass-456"}


@pytest.fixture(scope="module")
def hub(start_hub: Callable[..., hubproc.RunningHub]) -> hubproc.RunningHub:
    return start_hub("browser-site", users=USERS, roles={"prof": "instructor"})


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


def _sign_in(page, hub: hubproc.RunningHub, user: str) -> None:  # noqa: ANN001
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", USERS[user])
    page.click("#login_submit")


def test_student_signs_in_and_lands_on_my_courses(
    hub: hubproc.RunningHub,
    browser,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    # (tests/integration/hub/test_first_steps.py walks on from there to a course)
    context = browser.new_context()
    page = context.new_page()
    try:
        _sign_in(page, hub, "dana")
        page.wait_for_url("**/services/coursehub/", timeout=60_000)
        page.goto(f"{hub.url}/hub/spawn")
        page.wait_for_url("**/services/coursehub/", timeout=60_000)
        page.wait_for_selector("h2:has-text('My courses')", timeout=60_000)
        page.screenshot(path=str(tmp_path / "home.png"))
    finally:
        context.close()


def test_coursehub_page_shows_who_is_signed_in_and_their_role(
    hub: hubproc.RunningHub,
    browser,  # noqa: ANN001
) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        _sign_in(page, hub, "prof")
        page.goto(f"{hub.url}/services/coursehub/")
        page.wait_for_selector("text=Signed in as", timeout=60_000)
        body = page.inner_text("body")
        assert "prof" in body
        assert "instructor" in body.lower()
        assert "Test hub" in body  # the site name from coursehub.yaml
    finally:
        context.close()


def test_wrong_password_shows_the_login_form_again_with_a_message(
    hub: hubproc.RunningHub,
    browser,  # noqa: ANN001
) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/hub/login")
        page.fill("#username_input", "dana")
        page.fill("#password_input", "wrong-password")
        page.click("#login_submit")
        page.wait_for_selector("text=Invalid username or password", timeout=30_000)
        assert "/hub/login" in page.url
    finally:
        context.close()
