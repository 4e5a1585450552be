"""One person, one account: a name chosen through one sign-in method never lands in the
account of another method's user, nor picks up roles granted to that user's name.

The site offers passwords, GitHub, LTI and `?auth_token=` links at once. `prof` is an
instructor with a local account (a password from the roster), and instructor of a
course. GitHub cannot be reached from the test machine, so the hub's GitHub sign-in
talks to GitHub's OAuth and REST endpoints faked on loopback
(tests/helpers/fake_github.py): the hub, its OAuthenticator and the browser flow are
real; only GitHub's answers are made up, as an attacker who renamed their GitHub login
to `prof` would get them from GitHub itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from coursehub.core.roles import ROLE_GROUPS
from tests.helpers import hubproc
from tests.helpers.fake_github import FakeGitHub, GitHubUser
from tests.helpers.lti_platform import INSTRUCTOR, LEARNER, PlatformSimulator
from tests.helpers.signin_flows import follow_ticket, github_sign_in, lti_launch, whoami

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"prof": "prof-pass-123", "stu": "stu-pass-123"}
SECRET = b"lms-plugin-shared-secret-for-tests-0123456789"
AUD, ISS = "coursehub-test", "https://moodle.example.edu"
STAFF_GROUPS = {ROLE_GROUPS["instructor"], ROLE_GROUPS["ta"], ROLE_GROUPS["admin"]}


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture(scope="module")
def sim() -> Iterator[PlatformSimulator]:
    with PlatformSimulator() as platform:
        # Whatever an LMS user puts in their e-mail address becomes their readable name.
        platform.add_member(
            "u-lina", name="Lina", given_name="Lina", family_name="L",
            email="lina@uni.example", roles=[INSTRUCTOR],
        )  # fmt: skip
        platform.add_member(
            "u-mallory", name="Mal Lory", given_name="Mal", family_name="Lory",
            email="octo@uni.example", roles=[LEARNER],
        )  # fmt: skip
        platform.add_member(
            "u-trent", name="Trent", given_name="Trent", family_name="T",
            email="tara@uni.example", roles=[LEARNER],
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
    base = site_folder("identity")
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
    repo = make_course_repo({"welcome.ipynb": '{"cells": [], "metadata": {}, "nbformat": 4, '
                             '"nbformat_minor": 5}'})  # fmt: skip
    site = start_hub(
        base,
        users=USERS,
        roles={"prof": "instructor"},
        courses={"demo": hubproc.Course(repo, students=["stu"], staff={"prof": "instructor"})},
        extra_yaml=(
            "auth:\n  methods: [local, github, lti, jwt]\n"
            f"  github:\n    client_id: test-app\n    client_secret_file: {client_secret}\n"
            "    organization: school\n    team_roles: {teachers: instructor}\n"
            f"  jwt:\n    secret_file: {secret}\n    audience: {AUD}\n    issuer: {ISS}\n"
            "    create_accounts: true\n"
            # tara is meant to be a local TA whose account is not made yet
            "roles:\n  ta: [tara]\n"
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
    # The LMS course's instructor opens coursehub first, which makes its course.
    with _client(site) as client:
        first = lti_launch(client, sim, "u-lina")
        assert first.status_code == 303, first.text[:500]
    return site


def _client(hub: hubproc.RunningHub) -> httpx.Client:
    return httpx.Client(base_url=hub.url, timeout=60, follow_redirects=False)


def _staff_groups(model: dict | None) -> set[str]:
    return set((model or {}).get("groups") or []) & STAFF_GROUPS


def test_a_github_login_named_like_a_local_instructor_is_not_that_instructor(
    hub: hubproc.RunningHub, github: FakeGitHub
) -> None:
    # A member of the site's GitHub organisation renames their login to "prof".
    github.next_user = GitHubUser(login="prof", id=90001, orgs=("school",))
    with _client(hub) as client:
        answer = github_sign_in(client)
        me = whoami(client)
        staff_page = client.get("/services/coursehub/course/demo/staff")
    assert answer.request.url.path == "/hub/oauth_callback"  # the attack was made
    assert me is None or me["name"] != "prof", me
    assert not _staff_groups(me) and not (me or {}).get("admin"), me
    assert staff_page.status_code != 200
    if me is None:  # refused with a page that says what to do
        assert answer.status_code == 403, answer.text[:500]
        assert "another sign-in method" in answer.text
        assert "coursehub users link" in answer.text
    log = hub.log.read_text(errors="replace")
    assert "prof" in log and "github" in log.lower()


def test_an_lms_launch_named_like_a_github_instructor_is_not_that_instructor(
    hub: hubproc.RunningHub, github: FakeGitHub, sim: PlatformSimulator
) -> None:
    # octo, an instructor by GitHub team, has signed in before.
    github.next_user = GitHubUser(
        login="octo", id=90002, orgs=("school",), teams=(("school", "teachers"),)
    )
    with _client(hub) as octo:
        assert github_sign_in(octo).status_code == 302
        me = whoami(octo)
        assert me is not None and me["name"] == "octo"
        assert ROLE_GROUPS["instructor"] in me["groups"]  # from the GitHub team
    # An LMS learner whose e-mail address is octo@... launches coursehub.
    with _client(hub) as client:
        launched = lti_launch(client, sim, "u-mallory")
        if launched.status_code == 303:
            follow_ticket(client, launched)
        me = whoami(client)
    assert launched.status_code in (303, 403), launched.text[:500]  # the attack was made
    assert me is None or me["name"] != "octo", me
    assert not _staff_groups(me), me


def test_a_role_given_to_a_local_username_is_not_given_to_an_lms_user(
    hub: hubproc.RunningHub, sim: PlatformSimulator
) -> None:
    # `roles: ta: [tara]` names the local account tara; an LMS learner whose e-mail
    # address is tara@... launches first.
    with _client(hub) as client:
        launched = lti_launch(client, sim, "u-trent")
        if launched.status_code == 303:
            follow_ticket(client, launched)
        me = whoami(client)
    assert launched.status_code in (303, 403), launched.text[:500]  # the attack was made
    assert not _staff_groups(me), me


def test_a_sign_in_link_naming_a_local_instructor_is_not_that_instructor(
    hub: hubproc.RunningHub,
) -> None:
    now = int(time.time())
    # Names are lower-cased by every method: "PROF" is prof, and refused the same way.
    for name in ("prof", "PROF"):
        claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "username": name}
        link = jwt.encode(claims, SECRET, algorithm="HS256")
        with _client(hub) as client:
            answer = client.get("/hub/login", params={"auth_token": link, "next": "/hub/token"})
            me = whoami(client)
        assert me is None or me["name"] != "prof", (name, me)
        assert answer.status_code in (401, 403), answer.status_code
        assert "another sign-in method" in answer.text


def test_a_github_login_given_up_does_not_open_its_former_owners_account(
    hub: hubproc.RunningHub, github: FakeGitHub
) -> None:
    lena = GitHubUser(login="lena", id=90010, orgs=("school",), teams=(("school", "teachers"),))
    github.next_user = lena
    with _client(hub) as client:
        assert github_sign_in(client).status_code == 302
        assert (whoami(client) or {}).get("name") == "lena"
    # Lena renames her GitHub login; another member of the organisation takes "lena".
    github.next_user = GitHubUser(login="lena", id=90011, orgs=("school",))
    with _client(hub) as client:
        answer = github_sign_in(client)
        me = whoami(client)
    assert me is None or me["name"] != "lena", me
    assert not _staff_groups(me), me
    if me is None:
        assert answer.status_code == 403 and "another sign-in method" in answer.text
    # Lena, under her new login, still opens her own account.
    github.next_user = GitHubUser(
        login="lena-renamed", id=90010, orgs=("school",), teams=(("school", "teachers"),)
    )
    with _client(hub) as client:
        assert github_sign_in(client).status_code == 302
        me = whoami(client)
    assert me is not None and me["name"] == "lena", me
    assert ROLE_GROUPS["instructor"] in me["groups"]
