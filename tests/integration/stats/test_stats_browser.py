"""The statistics page in Debian's Chromium: every chart draws (a canvas with a size),
the heatmap and the figures show the scripted week, nothing on the console complains
(a CSP refusal would). The screenshot goes to $COURSEHUB_SCREENSHOTS; with
COURSEHUB_UPDATE_DOCS_SCREENSHOTS=1 it also replaces docs/images/statistics.png.

The service app runs for real (uvicorn on a random port) over a real database filled
with a scripted week of events and two days of monitor samples; only the hub's
identity check is faked (tests/helpers/fake_hub.py), which a browser page does not
need the hub for. The real hub's sign-in is covered by the other browser tests.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn

from coursehub.ops.ports import free_port
from coursehub.service import cookies
from tests.helpers import stats_week as week
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.coursedb import opened_database, sqlite_url
from tests.helpers.fake_hub import API_TOKEN, PREFIX, USERS, FakeResolver, user
from tests.helpers.fake_hub import build as build_app

pytestmark = [pytest.mark.integration]

DOCS_SHOT = Path(__file__).resolve().parents[3] / "docs" / "images" / "statistics.png"
CHARTS = ("opens", "students", "notebooks", "per-student", "servers", "cpu", "memory", "disk")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    root = tmp_path_factory.mktemp("stats-browser")
    url = sqlite_url(root)
    with opened_database(url) as db:
        now = datetime.now(UTC)
        week.populate(db, root / "data", root, now)
        week.add_samples(db, now)
    users = dict(USERS)
    users["tok-amy"] = user("amy", ("coursehub-students",))
    app, _ = build_app(
        FakeResolver(users),
        COURSEHUB_DATABASE_URL=url,
        COURSEHUB_DATA_DIR=str(root / "data"),
        COURSEHUB_SITE_NAME="Maths department hub",
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _signed_in(browser, base: str, token: str):  # noqa: ANN001, ANN202
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", token)
    context.add_cookies([{"name": "service-coursehub", "value": signed, "url": base + PREFIX}])
    return context


def test_the_statistics_page_draws_its_charts(service: str) -> None:
    page_url = f"{service}{PREFIX}course/{week.COURSE}/stats?days=7"
    with chromium() as browser:
        context = _signed_in(browser, service, "tok-inst")
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        failed: list[str] = []
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        page.goto(page_url)
        page.wait_for_selector(f"body[data-charts-drawn='{len(CHARTS)}']")
        for name in CHARTS:
            box = page.locator(f".chart[data-chart='{name}'] canvas").bounding_box()
            assert box and box["width"] > 200 and box["height"] > 100, name
        # The figures and the heatmap of the scripted week; staff nowhere.
        assert page.inner_text("#students-total") == "3"
        assert page.inner_text("#active-week") == "3"
        assert page.inner_text("#opens-total") == "9"
        rows = page.locator("table.heatmap tr[data-user]")
        assert rows.count() == 3
        assert page.inner_text("table.heatmap tr[data-user=cat]").split() == ["cat", "1", "3"]
        assert "ines" not in page.inner_text("#heatmap")
        # The day range selector changes what is shown.
        page.click("nav.ranges a:has-text('last 30 days')")
        page.wait_for_url("**days=30")
        page.wait_for_selector(f"body[data-charts-drawn='{len(CHARTS)}']")
        page.click("nav.ranges a:has-text('last 7 days')")
        page.wait_for_selector(f"body[data-charts-drawn='{len(CHARTS)}']")
        page.locator("#heatmap").scroll_into_view_if_needed()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / "statistics.png"), full_page=True)
        # Browsers ask for /favicon.ico on their own; nothing the page asked for failed.
        assert [u for u in failed if not u.endswith("/favicon.ico")] == []
        assert [p for p in problems if "404" not in p] == []
        # A CSV download from the page.
        with page.expect_download() as got:
            page.click("#downloads a:has-text('notebooks')")
        text = Path(got.value.path()).read_text()
        assert text.splitlines()[1:] == ["intro.ipynb,3,5", "lab/week2.ipynb,2,4"]
        # A student of the course is refused.
        student = _signed_in(browser, service, "tok-amy").new_page()
        response = student.goto(page_url)
        assert response is not None and response.status == 403
        assert "statistics" not in student.content().lower() or "heatmap" not in student.content()
    if os.environ.get("COURSEHUB_UPDATE_DOCS_SCREENSHOTS"):  # else the tree stays clean
        shutil.copyfile(SHOTS / "statistics.png", DOCS_SHOT)
