"""GitHub teams give course enrolments (auth.github.team_courses), as a summer school
run on a GitHub organisation sets its courses up: joining a team puts someone in its
courses at their next sign-in, leaving it takes them out of what the team gave, and
enrolments made by hand or from a roster stay as they are.

GitHub cannot be reached from the test machine, so the hub's GitHub sign-in talks to
GitHub's OAuth and REST endpoints faked on loopback (tests/helpers/fake_github.py: the
authorize page, the token exchange, /user, /user/teams and the organisation membership
check). The hub, its OAuthenticator, the coursehub database and pages are real.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.fake_github import FakeGitHub, GitHubUser
from tests.helpers.signin_flows import github_sign_in, whoami

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"prof": "prof-pass-123", "lee": "lee-pass-123"}
NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
TEAM_COURSES = (
    "    team_courses:\n"
    "      teachers: 'ds101:instructor'\n"
    "      students-2026: [ds101, 'ml102:student']\n"
    "      helpers: ['ds101:ta', 'ghost:student']\n"
)


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture(scope="module")
def hub(
    github: FakeGitHub,
    site_folder: Callable[..., Path],
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
) -> hubproc.RunningHub:
    base = site_folder("team-courses")
    client_secret = base / "github.secret"
    client_secret.write_text("github-client-secret-for-tests-0123456789\n")
    os.chmod(client_secret, 0o600)
    extra = base / "jupyterhub_config.d"
    extra.mkdir()
    # GitHub's endpoints, faked on loopback (see the module docstring)
    (extra / "fake_github.py").write_text(
        f"c.CoursehubGitHubAuthenticator.github_url = {github.url!r}\n"
    )
    repo = make_course_repo({"intro.ipynb": NOTEBOOK})
    courses = {
        "ds101": hubproc.Course(repo, students=[], staff={"prof": "instructor"}),
        "ml102": hubproc.Course(repo),
    }
    return start_hub(
        base,
        users=USERS,
        roles={"prof": "instructor"},
        courses=courses,
        # hal was made a TA of ds101 by hand before ever signing in
        then=[("course", "enrol", "ds101", "hal", "--role", "ta")],
        extra_yaml=(
            "auth:\n  methods: [local, github]\n"
            f"  github:\n    client_id: test-app\n    client_secret_file: {client_secret}\n"
            "    organization: school\n    team_roles: {teachers: instructor}\n"
            + TEAM_COURSES
            + f"extra_config_dir: {extra}\n"
        ),
    )


@contextmanager
def sign_in(
    hub: hubproc.RunningHub, github: FakeGitHub, user: GitHubUser
) -> Iterator[httpx.Client]:
    """A browser session of `user`, signed in with GitHub as their teams are now."""
    github.next_user = user
    with httpx.Client(base_url=hub.url, timeout=60, follow_redirects=False) as client:
        answer = github_sign_in(client, next_url="/services/coursehub/")
        assert answer.status_code == 302, answer.text[:500]
        assert (whoami(client) or {}).get("name") == user.login
        yield client


def my_courses(client: httpx.Client) -> dict[str, str]:
    """course -> role, as the My courses page shows them."""
    page = client.get("/services/coursehub/", follow_redirects=True)
    assert page.status_code == 200, page.text[:500]
    found = re.findall(
        r'id="course-([a-z0-9_-]+)">\s*<h3><a [^>]*>[^<]*</a>\s*<span class="role">(\w+)</span>',
        page.text,
    )
    return dict(found)


def members(hub: hubproc.RunningHub, course: str) -> str:
    shown = hub.cli("course", "show", course)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def test_joining_a_team_enrols_and_leaving_it_unenrols(
    hub: hubproc.RunningHub, github: FakeGitHub
) -> None:
    sam = GitHubUser(login="sam", id=81001, teams=(("school", "students-2026"),))
    with sign_in(hub, github, sam) as client:
        assert my_courses(client) == {"ds101": "student", "ml102": "student"}
        # a course page opens: the enrolment is real, not only listed
        assert client.get("/services/coursehub/course/ml102").status_code == 200
    # made a helper of the school: a TA of ds101, out of the students' team
    sam.teams = (("school", "helpers"),)
    with sign_in(hub, github, sam) as client:
        assert my_courses(client) == {"ds101": "ta"}
        assert client.get("/services/coursehub/course/ml102").status_code in (403, 404)
    # out of every team: out of every course the teams gave
    sam.teams = ()
    with sign_in(hub, github, sam) as client:
        assert my_courses(client) == {}
    assert "sam" not in members(hub, "ds101") and "sam" not in members(hub, "ml102")


def test_an_enrolment_made_by_hand_is_left_as_it_is(
    hub: hubproc.RunningHub, github: FakeGitHub
) -> None:
    hal = GitHubUser(login="hal", id=81002, teams=(("school", "students-2026"),))
    with sign_in(hub, github, hal) as client:
        # ds101 by hand (TA) stays TA; ml102 comes from the team
        assert my_courses(client) == {"ds101": "ta", "ml102": "student"}
    hal.teams = ()
    with sign_in(hub, github, hal) as client:
        assert my_courses(client) == {"ds101": "ta"}


def test_teams_of_another_organisation_give_nothing(
    hub: hubproc.RunningHub, github: FakeGitHub
) -> None:
    mo = GitHubUser(login="mo", id=81003, orgs=("school", "other"), teams=(("other", "teachers"),))
    with sign_in(hub, github, mo) as client:
        assert my_courses(client) == {}
        me = whoami(client) or {}
        assert "coursehub-instructor" not in (me.get("groups") or [])


def test_a_team_teacher_gets_the_course_staff_page(
    hub: hubproc.RunningHub, github: FakeGitHub
) -> None:
    tia = GitHubUser(login="tia", id=81004, teams=(("school", "teachers"),))
    with sign_in(hub, github, tia) as client:
        assert my_courses(client) == {"ds101": "instructor"}
        assert client.get("/services/coursehub/course/ds101/staff").status_code == 200


def test_a_course_that_does_not_exist_is_named_in_config_check_and_the_log(
    hub: hubproc.RunningHub, github: FakeGitHub
) -> None:
    ida = GitHubUser(login="ida", id=81005, teams=(("school", "helpers"),))
    with sign_in(hub, github, ida) as client:
        assert my_courses(client) == {"ds101": "ta"}
    assert "no such course: ghost" in hub.log_tail(400)
    check = hub.cli("config", "check")
    assert check.returncode == 0, check.stderr
    assert "team 'helpers' names course 'ghost', which does not exist" in check.stdout
    assert "coursehub course add" in check.stdout
    assert "ds101" not in check.stdout.split("warning", 1)[-1]


def test_a_github_login_named_like_a_local_account_gets_no_enrolments(
    hub: hubproc.RunningHub, github: FakeGitHub
) -> None:
    # lee has a local account; a member of the organisation renames their GitHub login
    # to lee and joins the students' team
    github.next_user = GitHubUser(login="lee", id=81006, teams=(("school", "students-2026"),))
    with httpx.Client(base_url=hub.url, timeout=60, follow_redirects=False) as client:
        answer = github_sign_in(client, next_url="/services/coursehub/")
        assert answer.status_code == 403, answer.text[:500]
        assert whoami(client) is None
    # the local lee was not enrolled by someone else's teams
    assert "lee" not in members(hub, "ds101") and "lee" not in members(hub, "ml102")
