"""First steps: whatever the sign-in method, people land on the coursehub home (My
courses) and no server starts until a course is opened. JupyterHub's own home, its
spawn page and every "My server" link lead to the courses.

The site offers passwords, GitHub, LTI and `?auth_token=` links at once. GitHub cannot
be reached from the test machine: the hub's GitHub sign-in talks to GitHub's OAuth and
REST endpoints faked on loopback (tests/helpers/fake_github.py); the hub, its
OAuthenticator and the redirects are real. The LMS is tests/helpers/lti_platform.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.helpers import hubproc
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.fake_github import FakeGitHub, GitHubUser
from tests.helpers.lti_platform import INSTRUCTOR, LEARNER, PlatformSimulator
from tests.helpers.signin_flows import follow_ticket, github_sign_in, lti_launch, whoami

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"dana": "dana-pass-123", "ola": "ola-pass-123", "root1": "root1-pass-123"}
SECRET = b"lms-plugin-shared-secret-for-tests-0123456789"
AUD, ISS = "coursehub-test", "https://moodle.example.edu"
HOME = "/services/coursehub/"
NOTEBOOK = json.dumps(
    {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Week one"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture(scope="module")
def sim() -> Iterator[PlatformSimulator]:
    with PlatformSimulator() as platform:
        platform.add_member(
            "u-lina", name="Lina", given_name="Lina", family_name="L",
            email="lina@uni.example", roles=[INSTRUCTOR],
        )  # fmt: skip
        platform.add_member(
            "u-lou", name="Lou", given_name="Lou", family_name="L",
            email="lou@uni.example", roles=[LEARNER],
        )  # fmt: skip
        yield platform


@pytest.fixture(scope="module")
def hub(
    github: FakeGitHub,
    sim: PlatformSimulator,
    site_folder: Callable[..., Path],
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
) -> hubproc.RunningHub:
    base = site_folder("first-steps")
    secret = base / "jwt.secret"
    secret.write_bytes(SECRET + b"\n")
    client_secret = base / "github.secret"
    client_secret.write_text("github-client-secret-for-tests-0123456789\n")
    for path in (secret, client_secret):
        os.chmod(path, 0o600)
    extra = base / "jupyterhub_config.d"
    extra.mkdir()
    # GitHub's endpoints, faked on loopback (see the module docstring)
    (extra / "fake_github.py").write_text(
        f"c.CoursehubGitHubAuthenticator.github_url = {github.url!r}\n"
    )
    repo = make_course_repo({"week1/intro.ipynb": NOTEBOOK})
    site = start_hub(
        base,
        users=USERS,
        roles={"root1": "admin"},
        courses={"demo": hubproc.Course(repo, students=["dana"])},
        extra_yaml=(
            "auth:\n  methods: [local, github, lti, jwt]\n"
            f"  github:\n    client_id: test-app\n    client_secret_file: {client_secret}\n"
            "    organization: school\n"
            f"  jwt:\n    secret_file: {secret}\n    audience: {AUD}\n    issuer: {ISS}\n"
            "    create_accounts: true\n"
            f"extra_config_dir: {extra}\n"
            "lti:\n  roster_sync: 0\n  username_claim: email\n  platforms:\n"
            f"    - name: sim\n      issuer: {sim.issuer}\n      client_id: {sim.client_id}\n"
            f"      deployment_ids: ['{sim.deployment_id}']\n"
            f"      auth_login_url: {sim.auth_login_url}\n"
            f"      auth_token_url: {sim.auth_token_url}\n"
            f"      key_set_url: {sim.key_set_url}\n"
        ),
    )
    sim.tool_login_url = f"{site.url}/services/coursehub/lti/login"
    sim.tool_launch_url = f"{site.url}/services/coursehub/lti/launch"
    return site


def servers_of(hub: hubproc.RunningHub, user: str) -> dict[str, Any]:
    """The user's servers as the hub's REST API lists them ({} for none)."""
    cli_token = (hub.data_dir / "secrets" / "cli_token").read_text().strip()
    hub_port = json.loads((hub.data_dir / "runtime" / "ports.json").read_text())["hub"]
    answer = httpx.get(
        f"http://127.0.0.1:{hub_port}/hub/api/users/{user}",
        headers={"Authorization": f"token {cli_token}"},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json().get("servers") or {}


def _client(hub: hubproc.RunningHub) -> httpx.Client:
    return httpx.Client(base_url=hub.url, timeout=60, follow_redirects=False)


def _sign_in_with_password(page: Any, hub: hubproc.RunningHub, user: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", USERS[user])
    page.click("#login_submit")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    with chromium() as browser:
        yield browser


def test_a_student_lands_on_my_courses_and_no_server_starts(
    hub: hubproc.RunningHub, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        _sign_in_with_password(page, hub, "dana")
        page.wait_for_url(f"**{HOME}", timeout=60_000)
        page.wait_for_selector("h2:has-text('My courses')", timeout=30_000)
        page.screenshot(path=str(SHOTS / "first-steps-home.png"))
        body = page.inner_text("body")
        assert "Signed in as dana" in body and "demo" in body, body
        # the way to a server is a course: no "My server" of its own
        assert "My server" not in body and "Go to my server" not in body
        assert page.locator("header nav a", has_text="My courses").count() == 1
    finally:
        page.close()
    assert servers_of(hub, "dana") == {}


@pytest.mark.parametrize("path", ["/hub/home", "/hub/spawn", "/hub/spawn/dana", "/hub/", "/"])
def test_jupyterhubs_own_pages_lead_to_my_courses_without_starting_a_server(
    hub: hubproc.RunningHub, browser: Any, path: str
) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        _sign_in_with_password(page, hub, "dana")
        page.wait_for_url(f"**{HOME}", timeout=60_000)
        page.goto(f"{hub.url}{path}")
        page.wait_for_url(f"**{HOME}", timeout=30_000)
        page.wait_for_selector("h2:has-text('My courses')", timeout=30_000)
        shot = path.strip("/").replace("/", "-") or "root"
        page.screenshot(path=str(SHOTS / f"first-steps-from-{shot}.png"))
        # nowhere a bare 403 or JupyterHub's "Add New Server"
        assert "403" not in page.title() and "Add New Server" not in page.inner_text("body")
    finally:
        page.close()
    assert servers_of(hub, "dana") == {}


def test_without_javascript_or_refresh_the_hub_pages_link_to_my_courses(
    hub: hubproc.RunningHub,
) -> None:
    with _client(hub) as client:
        signed_in = client.post(
            "/hub/login",
            data={"username": "dana", "password": USERS["dana"], "_xsrf": _xsrf(client)},
        )
        assert signed_in.status_code == 302 and signed_in.headers["location"] == HOME
        for path in ("/hub/home", "/hub/spawn"):
            page = client.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            assert f'href="{HOME}"' in page.text, path
            assert f'http-equiv="refresh" content="0; url={HOME}"' in page.text, path
            # no Start button, no named-server table
            assert 'id="spawn_form"' not in page.text and "add-server" not in page.text
        # an old bookmark of the default server's JupyterLab: a way to the courses
        bookmark = client.get("/user/dana/lab", follow_redirects=True)
        assert bookmark.status_code == 424, bookmark.text[:500]
        assert "Go to my courses" in bookmark.text and f'href="{HOME}"' in bookmark.text
        assert "/hub/spawn/dana" not in bookmark.text
    assert servers_of(hub, "dana") == {}


def _xsrf(client: httpx.Client) -> str:
    client.get("/hub/login")
    return next((c.value or "" for c in client.cookies.jar if c.name == "_xsrf"), "")


def test_opening_a_course_starts_that_courses_server_only(
    hub: hubproc.RunningHub, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        _sign_in_with_password(page, hub, "dana")
        page.wait_for_url(f"**{HOME}", timeout=60_000)
        page.click("#course-demo h3 a")
        page.wait_for_selector("text=week1/intro.ipynb", timeout=30_000)
        page.click("text=week1/intro.ipynb")
        page.wait_for_url("**/user/dana/demo/lab/**", timeout=180_000, wait_until="commit")
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        page.screenshot(path=str(SHOTS / "first-steps-course-open.png"))
    finally:
        page.close()
    servers = servers_of(hub, "dana")
    assert set(servers) == {"demo"}, servers  # the course's server, no default server ""
    # A hub page visited now still leads to the courses, not into a server.
    with _client(hub) as client:
        client.post(
            "/hub/login",
            data={"username": "dana", "password": USERS["dana"], "_xsrf": _xsrf(client)},
        )
        assert f'url={HOME}"' in client.get("/hub/home").text
    stop = hub.cli("servers", "stop", "dana")
    assert stop.returncode == 0 or "no such" in stop.stderr.lower(), stop.stderr


def test_an_admin_lands_on_my_courses_too_with_a_way_to_users_and_servers(
    hub: hubproc.RunningHub, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        _sign_in_with_password(page, hub, "root1")
        page.wait_for_url(f"**{HOME}", timeout=60_000)
        page.wait_for_selector("text=Manage courses", timeout=30_000)
        assert page.locator("a", has_text="Users and servers").get_attribute("href") == (
            "/hub/admin"
        )
    finally:
        page.close()
    assert servers_of(hub, "root1") == {}


def test_github_sign_in_lands_on_my_courses(hub: hubproc.RunningHub, github: FakeGitHub) -> None:
    github.next_user = GitHubUser(login="gina", id=70001, orgs=("school",))
    with _client(hub) as client:
        start = client.get("/hub/oauth_login")
        assert start.status_code == 302, start.text[:500]
        approved = httpx.get(start.headers["location"], timeout=30)
        callback = client.get(approved.headers["location"])
        assert callback.status_code == 302, callback.text[:500]
        assert callback.headers["location"] == HOME
        assert (whoami(client) or {}).get("name") == "gina"
        # a page asked for before signing in is still where sign-in goes
        github.next_user = GitHubUser(login="gina", id=70001, orgs=("school",))
        asked = github_sign_in(client, next_url="/services/coursehub/course/demo")
        assert asked.headers["location"] == "/services/coursehub/course/demo"
    assert servers_of(hub, "gina") == {}


def test_a_sign_in_link_without_a_next_page_lands_on_my_courses(
    hub: hubproc.RunningHub,
) -> None:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "username": "jo"}
    link = jwt.encode(claims, SECRET, algorithm="HS256")
    with _client(hub) as client:
        answer = client.get("/hub/login", params={"auth_token": link})
        assert answer.status_code == 302, answer.text[:500]
        assert answer.headers["location"] == HOME
        assert (whoami(client) or {}).get("name") == "jo"
    assert servers_of(hub, "jo") == {}


def test_an_lms_launch_lands_in_coursehub_without_starting_a_server(
    hub: hubproc.RunningHub, sim: PlatformSimulator
) -> None:
    # The LMS course's instructor opens coursehub first, which makes its course.
    with _client(hub) as client:
        first = follow_ticket(client, lti_launch(client, sim, "u-lina"))
        assert first.status_code == 302, first.text[:500]
        assert first.headers["location"].startswith(HOME), first.headers["location"]
    with _client(hub) as client:
        launched = lti_launch(client, sim, "u-lou")
        signed_in = follow_ticket(client, launched)
        assert signed_in.status_code == 302, signed_in.text[:500]
        assert signed_in.headers["location"].startswith(HOME), signed_in.headers["location"]
        me = whoami(client)
    assert me is not None
    assert servers_of(hub, me["name"]) == {}
