"""An instructor's hub token reaches no student's hub model: not of another course's
students, and not of their own (the coursehub pages show staff what they need, through
the service). Every instructor of every course, including any LMS instructor whose
launch made a course, holds such a token (/hub/token)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"profa": "profa-pass-123", "ann": "ann-pass-1234", "bea": "bea-pass-1234"}
NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo({"welcome.ipynb": NOTEBOOK})
    return start_hub(
        "hub-roles",
        users=USERS,
        roles={"profa": "instructor"},
        courses={
            "coursea": hubproc.Course(repo, students=["ann"], staff={"profa": "instructor"}),
            "courseb": hubproc.Course(repo, students=["bea"]),
        },
    )


def test_an_instructors_token_reads_no_other_courses_student(hub: hubproc.RunningHub) -> None:
    for user, password in USERS.items():  # each has signed in once: the hub knows them
        login(hub.url, user, password).close()
    auth = {"Authorization": f"token {hub.user_token('profa')}"}
    api = f"{hub.url}/hub/api"
    me = httpx.get(f"{api}/user", headers=auth)
    assert me.status_code == 200 and me.json()["name"] == "profa"  # the token works
    bea = httpx.get(f"{api}/users/bea", headers=auth)
    assert bea.status_code in (403, 404), bea.text[:300]
    listed = httpx.get(f"{api}/users", headers=auth)
    names = {u["name"] for u in listed.json()} if listed.status_code == 200 else set()
    assert "bea" not in names, names
    servers = httpx.get(f"{api}/users/bea/servers/courseb/progress", headers=auth)
    assert servers.status_code in (403, 404), servers.status_code
