"""Warm-up before a lecture, on a real hub: the course servers of the enrolled students
are started beforehand through the hub's REST API, and a student's first click lands
on theirs; nobody else gets one; memory refuses with a message; the service runs a
planned warm-up by itself; warmed servers nobody used are stopped after the class
while the idle culler leaves them alone until then.

Each test warms a course of its own, so they run in any order."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.browserless import login, start_server
from tests.helpers.gitrepo import EMPTY_NOTEBOOK

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {
    "alice": "alice-pass-123",
    "bob": "bob-pass-456",
    "carol": "carol-pass-789",
    "frank": "frank-pass-012",
    "ines": "ines-pass-345",
}
UNUSED_AFTER = 25  # seconds: warmup.unused_after of this site
IDLE = 4  # seconds: the idle limit of courses chem and control


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo({"intro.ipynb": EMPTY_NOTEBOOK, "course.yaml": "title: Warm\n"})
    course = hubproc.Course
    site = start_hub(
        "warmup",
        users=USERS,
        roles={"ines": "instructor"},
        courses={
            # erin is enrolled by name and has no account yet
            "algebra": course(repo, ("alice", "bob", "erin"), {"ines": "instructor"}),
            "geometry": course(repo, ("alice",)),
            "bio": course(repo, ("alice", "bob")),
            "physics": course(repo, ("carol", "frank")),
            "chem": course(repo, ("alice", "bob")),
            "control": course(repo, ("carol",)),
            "history": course(repo, ("alice", "bob"), {"ines": "instructor"}),
        },
        idle_yaml=(
            f"timeout: 0\ncheck_every: 1s\ncourses:\n  chem: {{timeout: {IDLE}s}}\n"
            f"  control: {{timeout: {IDLE}s}}\n"
        ),
        extra_yaml=f"warmup:\n  unused_after: {UNUSED_AFTER}s\n",
    )
    return site


def api(hub: hubproc.RunningHub) -> tuple[str, dict[str, str]]:
    token = (hub.data_dir / "secrets" / "cli_token").read_text().strip()
    port = json.loads((hub.data_dir / "runtime" / "ports.json").read_text())["hub"]
    return f"http://127.0.0.1:{port}/hub/api", {"Authorization": f"token {token}"}


def servers(hub: hubproc.RunningHub) -> dict[tuple[str, str], dict]:
    """(user, server name) -> the hub's server model, for every running server."""
    url, headers = api(hub)
    users = httpx.get(f"{url}/users", headers=headers, timeout=10).json()
    return {(u["name"], n): s for u in users for n, s in (u.get("servers") or {}).items()}


def counts(output: str) -> dict[str, int]:
    found = {}
    for line in output.splitlines():
        key, sep, value = line.partition(": ")
        if sep and value.strip().isdigit():
            found[key.strip()] = int(value)
    return found


def warm(hub: hubproc.RunningHub, course: str, *more: str, config: Path | None = None):  # noqa: ANN201
    args = ["course", "warm", course, *more]
    if config is None:
        return hub.cli(*args)
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "coursehub.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_warmed_servers_belong_to_the_right_students_and_courses(hub: hubproc.RunningHub) -> None:
    before = set(servers(hub))
    done = warm(hub, "algebra")
    assert done.returncode == 0, done.stdout + done.stderr + hub.log_tail()
    said = counts(done.stdout)
    assert said["warmed"] == 2 and said["failed"] == 0 and said["refused for memory"] == 0
    assert said["not yet members"] == 1 and "erin" in done.stdout
    running = servers(hub)
    warmed = {("alice", "algebra"), ("bob", "algebra")}
    assert {key for key in running if key[1] == "algebra"} == warmed
    assert all(running[key]["ready"] for key in warmed)
    # carol is not in algebra: no server of hers; nobody got one of another course
    assert set(running) - before == warmed
    # each runs as its student, in that student's workspace of the course
    for user in ("alice", "bob"):
        workspace = hub.home_root / hub.unix_name(user) / "courses" / "algebra"
        assert workspace.is_dir() and workspace.stat().st_uid == _uid(hub, user)
    # the instructor's staff page shows it
    client = login(hub.url, "ines", USERS["ines"])
    page = client.get("/services/coursehub/course/algebra/staff", follow_redirects=True)
    assert page.status_code == 200, page.text[-400:]
    card = page.text[page.text.index('id="warmup"') :]
    assert "2 warmed" in card and "command" in card


def test_the_first_click_lands_on_the_server_warmed_before_it(hub: hubproc.RunningHub) -> None:
    done = warm(hub, "geometry")
    assert done.returncode == 0 and counts(done.stdout)["warmed"] == 1, done.stdout
    before = servers(hub)[("alice", "geometry")]
    client = login(hub.url, "alice", USERS["alice"])
    click = datetime.now(UTC)
    opened = client.get(
        "/services/coursehub/open/geometry/intro.ipynb", follow_redirects=True, timeout=60
    )
    assert opened.status_code == 200, opened.text[-400:]
    assert str(opened.url).endswith("/user/alice/geometry/lab/tree/intro.ipynb")
    # no spawn page on the way: the link found the server ready
    assert not any("/hub/spawn" in str(r.url) for r in opened.history), opened.history
    after = servers(hub)[("alice", "geometry")]
    started = datetime.fromisoformat(after["started"].replace("Z", "+00:00"))
    assert started < click and after["started"] == before["started"]  # the same server
    assert (
        hub.home_root / hub.unix_name("alice") / "courses" / "geometry" / "intro.ipynb"
    ).exists()


def test_memory_refuses_beyond_what_fits_with_a_message(hub: hubproc.RunningHub) -> None:
    # the same site, with more memory kept in reserve than this machine has
    tight = hub.config.with_name("coursehub-tight.yaml")
    tight.write_text(hub.config.read_text() + "  reserve: 64T\n")
    done = warm(hub, "bio", config=tight)
    assert done.returncode == 0, done.stdout + done.stderr
    said = counts(done.stdout)
    assert said["warmed"] == 0 and said["refused for memory"] == 2
    assert "left out for memory" in done.stdout and "alice, bob" in done.stdout
    assert "kept in reserve" in done.stdout and "room for 0 more" in done.stdout
    assert not [key for key in servers(hub) if key[1] == "bio"]
    status = warm(hub, "bio", "--status", config=tight)
    assert "refused for memory" in status.stdout


def test_a_planned_warm_up_is_run_by_the_service(hub: hubproc.RunningHub) -> None:
    login(hub.url, "carol", USERS["carol"])  # frank never signed in: the hub knows him not
    soon = (datetime.now(UTC) + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    planned = warm(hub, "physics", "--at", soon)
    assert planned.returncode == 0 and "warming begins" in planned.stdout, planned.stderr
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        status = warm(hub, "physics", "--status").stdout
        if "done;" in status:
            break
        time.sleep(1)
    assert "1 warmed" in status and "1 could not be warmed" in status, status + hub.log_tail()
    assert servers(hub)[("carol", "physics")]["ready"]
    assert ("frank", "physics") not in servers(hub)


def test_unused_warm_servers_are_stopped_and_the_culler_spares_them_until_then(
    hub: hubproc.RunningHub,
) -> None:
    began = time.monotonic()
    done = warm(hub, "chem")
    assert done.returncode == 0 and counts(done.stdout)["warmed"] == 2, done.stdout
    # alice comes to class; bob does not
    alice = login(hub.url, "alice", USERS["alice"])
    opened = alice.get("/services/coursehub/open/chem/intro.ipynb", follow_redirects=True)
    assert str(opened.url).endswith("/user/alice/chem/lab/tree/intro.ipynb")
    # carol starts a server of her own in another course with the same idle limit
    carol = login(hub.url, "carol", USERS["carol"])
    assert start_server(carol, "carol", server="control")[-1].get("ready")
    control_started = time.monotonic()
    while time.monotonic() - control_started < IDLE + 20 and ("carol", "control") in servers(hub):
        time.sleep(0.5)
    assert ("carol", "control") not in servers(hub), "the culler should stop an idle server"
    # the warmed ones, idle as long, are spared until the class has been on UNUSED_AFTER
    assert time.monotonic() - began < UNUSED_AFTER
    running = servers(hub)
    assert ("bob", "chem") in running and ("alice", "chem") in running
    deadline = began + UNUSED_AFTER + 20
    while time.monotonic() < deadline and ("bob", "chem") in servers(hub):
        time.sleep(0.5)
    assert ("bob", "chem") not in servers(hub), hub.log_tail()
    status = warm(hub, "chem", "--status").stdout
    assert "After the class: 1 stopped, 1 used." in status, status


def test_an_instructor_warms_the_class_from_the_staff_page(hub: hubproc.RunningHub) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    for student in ("alice", "bob"):  # they came to an earlier class: the hub knows them
        login(hub.url, student, USERS[student])
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{hub.url}/services/coursehub/course/history/staff")
        page.fill("#username_input", "ines")
        page.fill("#password_input", USERS["ines"])
        page.click("#login_submit")
        card = page.locator("#warmup")
        card.wait_for(timeout=60_000)
        assert "Can be warmed now" in card.inner_text()
        # tomorrow at 09:00 in the browser's time zone: planned, shown in that zone
        tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT09:00")
        card.locator("input[name=at]").fill(tomorrow)
        card.locator("button:has-text('Warm up')").click()
        page.wait_for_selector("#warmup-notice", timeout=30_000)
        planned = page.locator("#warmups tr[data-state=scheduled]")
        assert "begins at" in planned.inner_text() and "staff page" in planned.inner_text()
        planned.locator("button:has-text('Cancel')").click()
        page.wait_for_selector("#warmups tr[data-state=cancelled]", timeout=30_000)
        # class starts now: the service warms at once
        card = page.locator("#warmup")
        card.locator("input[name=minutes]").fill("0")
        card.locator("button:has-text('Warm up')").click()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            page.reload()
            if page.locator("#warmups tr[data-state=done]").count():
                break
            time.sleep(1)
        page.screenshot(path=str(SHOTS / "staff-warmup.png"), full_page=True)
        done = page.locator("#warmups tr[data-state=done]").inner_text()
        assert "2 warmed" in done, done
    running = servers(hub)
    assert running[("alice", "history")]["ready"] and running[("bob", "history")]["ready"]


def _uid(hub: hubproc.RunningHub, user: str) -> int:
    import pwd

    return pwd.getpwnam(hub.unix_name(user)).pw_uid
