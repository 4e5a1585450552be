"""The LMS front door on a real hub, driven from an LTI 1.3 platform simulator on
localhost (its own keys, OIDC, AGS and NRPS endpoints) and Debian's Chromium:

- an instructor's first launch creates the course and lands on its page;
- a student's launch opens the linked notebook in their own course server;
- a graded assignment's score arrives at the platform's AGS endpoint;
- NRPS sync makes the roster before anyone launches;
- inside an LMS iframe where the browser refuses coursehub's cookies, the launch
  offers a new window, and that window signs the student in.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from coursehub.config.layout import DataLayout
from coursehub.courses.store import CourseStore
from coursehub.db.session import Database
from tests.helpers import hubproc
from tests.helpers.assignments import answer_nbgrader, nbgrader_source
from tests.helpers.browser import SHOTS, chromium
from tests.helpers.lti_platform import INSTRUCTOR, LEARNER, TA, PlatformSimulator

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"admin1": "admin1-pass-123"}
COURSE = "phys101"  # made from the simulator's context label PHYS101
API = f"/services/coursehub/api/courses/{COURSE}/assignments"


def _member(sim: PlatformSimulator, user_id: str, given: str, roles: list[str]) -> None:
    sim.add_member(
        user_id,
        name=f"{given} Example",
        given_name=given,
        family_name="Example",
        email=f"{given.lower()}@uni.example",
        roles=roles,
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[PlatformSimulator]:
    with PlatformSimulator() as platform:
        _member(platform, "u-lina", "Lina", [INSTRUCTOR])
        _member(platform, "u-tom", "Tom", [TA])
        _member(platform, "u-kim", "Kim", [LEARNER])
        _member(platform, "u-iris", "Iris", [LEARNER])
        yield platform


@pytest.fixture(scope="module")
def hub(sim: PlatformSimulator, start_hub: Callable[..., hubproc.RunningHub]) -> hubproc.RunningHub:
    lms_site = f"http://localhost:{sim.port}"  # the LMS page that frames coursehub
    extra = (
        "auth:\n  methods: [local, lti]\n"
        "lti:\n  roster_sync: 0\n  platforms:\n"
        f"    - name: sim\n      issuer: {sim.issuer}\n      client_id: {sim.client_id}\n"
        f"      deployment_ids: ['{sim.deployment_id}']\n"
        f"      auth_login_url: {sim.auth_login_url}\n"
        f"      auth_token_url: {sim.auth_token_url}\n"
        f"      key_set_url: {sim.key_set_url}\n"
    )
    site = start_hub(
        "lti",
        outside_tmp=True,  # it grades
        users=USERS,
        roles={"admin1": "admin"},
        site_yaml=f"frame_ancestors: ['{lms_site}']\n",
        extra_yaml=extra,
    )
    sim.tool_login_url = f"{site.url}/services/coursehub/lti/login"
    sim.tool_launch_url = f"{site.url}/services/coursehub/lti/launch"
    sim.tool_jwks_url = f"{site.url}/services/coursehub/lti/jwks.json"
    return site


def _store(hub: hubproc.RunningHub) -> CourseStore:
    db = Database(f"sqlite:///{DataLayout(hub.data_dir).coursehub_db_file}")
    return CourseStore(db, DataLayout(hub.data_dir))


def _browser_launch(
    browser, sim: PlatformSimulator, user: str, shot: str, until: str = "**/course/*", **options
) -> str:
    """A launch as Moodle starts one (an auto-posted form); the URL it ends on."""
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(sim.initiation_url(user, method="POST", **options))
        with contextlib.suppress(PlaywrightTimeout):  # the assertion shows where it ended
            page.wait_for_url(until, timeout=120_000)
        # "load", not "networkidle": JupyterLab keeps a request open for staff notices
        page.wait_for_load_state("load", timeout=60_000)
        if "lab/tree" in until:
            # the notebook itself is shown, not only JupyterLab's frame
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.screenshot(path=str(SHOTS / shot))
        return page.url
    finally:
        context.close()


@pytest.fixture(scope="module")
def course(hub: hubproc.RunningHub, sim: PlatformSimulator) -> str:
    """The instructor's first launch, which creates the course."""
    with chromium() as browser:
        url = _browser_launch(
            browser, sim, "u-lina", "lti-instructor-launch.png", roles=[INSTRUCTOR]
        )
    assert urlparse(url).path == f"/services/coursehub/course/{COURSE}", url
    return COURSE


def test_instructor_launch_creates_the_course(hub: hubproc.RunningHub, course: str) -> None:
    store = _store(hub)
    assert store.get(course) is not None
    assert store.role_of(course, "lina") == "instructor"


def test_student_launch_opens_the_notebook_in_their_course_server(
    hub: hubproc.RunningHub, sim: PlatformSimulator, course: str
) -> None:
    with chromium() as browser:
        url = _browser_launch(
            browser,
            sim,
            "u-kim",
            "lti-student-launch.png",
            until="**/lab/tree/welcome.ipynb",
            custom={"coursehub_notebook": "welcome.ipynb"},
        )
    assert urlparse(url).path == f"/user/kim/{course}/lab/tree/welcome.ipynb", url
    assert _store(hub).role_of(course, "kim") == "student"
    home = hub.home_root / hub.unix_name("kim")
    assert any(home.rglob("welcome.ipynb")), "the notebook was copied into kim's workspace"


def test_graded_score_arrives_at_the_lms(
    hub: hubproc.RunningHub, sim: PlatformSimulator, course: str, tmp_path: Path
) -> None:
    with chromium() as browser:  # her launch starts her course server
        _browser_launch(
            browser,
            sim,
            "u-iris",
            "lti-iris-launch.png",
            until="**/lab/tree/welcome.ipynb",
            custom={"coursehub_notebook": "welcome.ipynb"},
        )
    made = hub.cli(
        "assignment", "create", course, "ps1", "--from", str(nbgrader_source(tmp_path / "ps1"))
    )
    assert made.returncode == 0, made.stdout + made.stderr
    lina, iris = hub.user_token("lina"), hub.user_token("iris")
    released = httpx.post(f"{hub.url}{API}/ps1/release", headers={"Authorization": f"token {lina}"})
    assert released.status_code == 200, released.text
    answer = answer_nbgrader(
        hub.data_dir / "released" / course / "ps1" / "ps1.ipynb", "    return x * x\n"
    )
    auth = {"Authorization": f"token {iris}"}
    saved = httpx.put(
        f"{hub.url}/user/iris/{course}/api/contents/assignments/ps1/ps1.ipynb",
        headers=auth,
        json={"type": "notebook", "format": "json", "content": json.loads(answer)},
        timeout=30,
    )
    assert saved.status_code == 200, saved.text
    submitted = httpx.post(f"{hub.url}{API}/ps1/submit", headers=auth, timeout=60)
    assert submitted.status_code == 201, submitted.text

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        with sim.lock:
            scores = {user: body for (_item, user), body in sim.scores.items()}
        if "u-iris" in scores:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"no score reached the LMS\n{hub.log_tail(80)}")
    score = scores["u-iris"]
    assert score["scoreGiven"] == 2 and score["scoreMaximum"] == 3, score
    # ps1 has a question staff grade by hand: the LMS is told the grade is not final
    assert score["gradingProgress"] == "PendingManual"
    with sim.lock:
        items = list(sim.line_items.values())
    assert [item["resourceId"] for item in items] == ["ps1"]


def test_roster_sync_enrols_members_before_their_first_launch(
    hub: hubproc.RunningHub, sim: PlatformSimulator, course: str
) -> None:
    _member(sim, "u-noor", "Noor", [LEARNER])
    synced = hub.cli("lti", "sync-roster", course)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    store = _store(hub)
    assert store.role_of(course, "noor") == "student"
    assert store.role_of(course, "tom") == "ta"
    # Noor's first launch is the account the roster made, not a new one
    with chromium() as browser:
        url = _browser_launch(browser, sim, "u-noor", "lti-noor-launch.png")
    assert urlparse(url).path == f"/services/coursehub/course/{course}", url
    assert store.role_of(course, "noor-2") is None


def test_iframe_without_cookies_offers_a_new_window_that_works(
    hub: hubproc.RunningHub, sim: PlatformSimulator, course: str
) -> None:
    hint = sim.new_launch("u-kim")
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        # The LMS page is on "localhost", coursehub on 127.0.0.1: a cross-site frame,
        # where the browser refuses coursehub's (SameSite=Lax, plain http) cookies.
        page.goto(sim.embed_url(hint, frame_host="127.0.0.1").replace("127.0.0.1", "localhost", 1))
        frame_button = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and frame_button is None:
            for frame in page.frames:
                link = frame.query_selector("#lti-new-window")
                if link is not None and link.is_visible():
                    frame_button = link
                    break
            time.sleep(0.3)
        page.screenshot(path=str(SHOTS / "lti-iframe-blocked.png"))
        assert frame_button is not None, [f.url for f in page.frames]
        with context.expect_page() as popup_info:
            frame_button.click()
        popup = popup_info.value
        popup.wait_for_load_state("networkidle", timeout=120_000)
        popup.screenshot(path=str(SHOTS / "lti-new-window.png"))
        assert urlparse(popup.url).path == f"/services/coursehub/course/{course}", popup.url
        context.close()
