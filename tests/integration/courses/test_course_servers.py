"""One server per (student x course), in a workspace of its own, for enrolled students only."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.gitrepo import EMPTY_NOTEBOOK
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456"}


def _course_repo(make_course_repo: Callable[..., Path]) -> Path:
    repo = Path(f"/tmp/coursehub-test-repo-{secrets.token_hex(4)}")
    # a hostile link in the course pointing out of it (checked out as a plain file)
    (repo / "notebooks").mkdir(parents=True)
    (repo / "notebooks" / "evil.ipynb").symlink_to("/etc/shadow")
    files = {
        "notebooks/intro.ipynb": EMPTY_NOTEBOOK,
        "data/points.csv": "x,y\n1,2\n",
        "course.yaml": "title: Test course\nmappings:\n  - data -> data\n",
    }
    return make_course_repo(files, repo)


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = _course_repo(make_course_repo)
    alice = hubproc.Course(repo, ("alice",))
    return start_hub(
        "courses-site", users=USERS, courses={"algebra": alice, "physics": alice, "chem": alice}
    )


def test_each_course_gets_its_own_server_and_workspace(hub: hubproc.RunningHub) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    token = hub.user_token("alice")
    homes = hub.home_root / hub.unix_name("alice")
    for course in ("algebra", "physics"):
        events = start_server(client, "alice", server=course)
        assert events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    # both course servers run side by side, each in its own workspace, as alice
    for course in ("algebra", "physics"):
        out = run_code(
            f"{hub.url}/user/alice/{course}/",
            token,
            "import os, pwd; print(os.getcwd()); print(pwd.getpwuid(os.getuid()).pw_name)",
        )
        cwd, account = out["stdout"].split()
        assert Path(cwd) == homes / "courses" / course
        assert account == hub.unix_name("alice")
        assert (Path(cwd).stat().st_mode & 0o777) == 0o700


def test_course_servers_hide_nbgraders_own_tools(hub: hubproc.RunningHub) -> None:
    # Assignments go through the coursehub service: nbgrader's exchange-based pages
    # (formgrader, assignment list) and its lab extension are off in course servers.
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server="algebra")
    assert events[-1].get("ready"), events
    headers = {"Authorization": f"token {hub.user_token('alice')}"}
    base = f"{hub.url}/user/alice/algebra"
    for path in ("/formgrader", "/assignments", "/courses"):
        got = httpx.get(base + path, headers=headers, follow_redirects=False)
        assert got.status_code == 404, (path, got.status_code)
    lab = httpx.get(base + "/lab", headers=headers)
    assert lab.status_code == 200
    config = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', lab.text, re.S)
    assert config is not None
    assert "@jupyter/nbgrader" in json.loads(config.group(1))["disabledExtensions"]


def test_a_student_not_enrolled_is_told_so(hub: hubproc.RunningHub) -> None:
    client = login(hub.url, "bob", USERS["bob"])
    events = start_server(client, "bob", server="algebra")
    assert events[-1].get("failed"), events
    assert "not enrolled" in json.dumps(events)
    events = start_server(client, "bob", server="no-such-course")
    assert events[-1].get("failed")
    assert "no course called" in json.dumps(events)


def _open(client: httpx.Client, hub: hubproc.RunningHub, link: str, user: str, course: str):
    """Follow a notebook link like a browser, waiting on the hub's progress page."""
    response = client.get(link, follow_redirects=True)
    if "/lab/tree/" not in str(response.url):
        assert "spawn-pending" in str(response.url) or "/hub/spawn" in str(response.url), (
            response.url
        )
        events = start_server(client, user, server=course)
        assert events[-1].get("ready"), events
        response = client.get(link, follow_redirects=True)
    return response


def test_notebook_link_copies_once_adds_mappings_and_opens_jupyterlab(
    hub: hubproc.RunningHub,
) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    link = f"{hub.url}/services/coursehub/open/chem/notebooks/intro.ipynb"
    response = _open(client, hub, link, "alice", "chem")
    assert response.status_code == 200, response.text[-600:]
    assert str(response.url).endswith("/user/alice/chem/lab/tree/notebooks/intro.ipynb")
    workspace = hub.home_root / hub.unix_name("alice") / "courses" / "chem"
    copy = workspace / "notebooks" / "intro.ipynb"
    owner = __import__("pwd").getpwnam(hub.unix_name("alice"))
    assert copy.stat().st_uid == owner.pw_uid
    # the student's own edits are never overwritten by opening the link again
    copy.write_text(copy.read_text().replace('"cells": []', '"cells": [], "x": 1'))
    again = client.get(link, follow_redirects=True)
    assert again.status_code == 200 and '"x": 1' in copy.read_text()
    # the data mapping appears beside the notebook, readable but not writable
    token = hub.user_token("alice")
    out = run_code(
        f"{hub.url}/user/alice/chem/",
        token,
        "print(open('notebooks/data/points.csv').read().splitlines()[0])\n"
        "try:\n    open('notebooks/data/new.csv', 'w')\nexcept PermissionError:\n"
        "    print('read-only')\n",
    )
    assert out["stdout"].split() == ["x,y", "read-only"], out


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("notebooks/%2e%2e/%2e%2e/etc/passwd", 400),
        ("/etc/passwd", 404),  # the double slash is merged: etc/passwd is not in the course
        ("notebooks/missing.ipynb", 404),
        ("data/points.csv", 404),
        (".git/config", 400),
    ],
)
def test_bad_notebook_links_are_refused_and_copy_nothing(
    hub: hubproc.RunningHub, path: str, status: int
) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    client.get(f"{hub.url}/services/coursehub/", follow_redirects=True)  # sign in to the service
    response = client.get(f"{hub.url}/services/coursehub/open/chem/{path}", follow_redirects=True)
    assert response.status_code == status, response.text[:300]
    workspace = hub.home_root / hub.unix_name("alice") / "courses" / "chem"
    assert (
        not (workspace / "etc").exists() and not (workspace / "notebooks" / "evil.ipynb").exists()
    )


def test_links_to_unknown_courses_or_courses_of_others_are_refused(
    hub: hubproc.RunningHub,
) -> None:
    client = login(hub.url, "bob", USERS["bob"])
    client.get(f"{hub.url}/services/coursehub/", follow_redirects=True)
    unknown = client.get(f"{hub.url}/services/coursehub/open/nope/notebooks/intro.ipynb")
    assert unknown.status_code == 404
    other = client.get(f"{hub.url}/services/coursehub/open/chem/notebooks/intro.ipynb")
    # a course of others looks exactly like one that does not exist
    assert other.status_code == 404 and "no course called" in other.text
