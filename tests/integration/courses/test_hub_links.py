"""A notebook link clicked by someone not signed in to the coursehub pages is opened by
the hub (hub/course_links.py): sign-in, the course server's start and the copy of the
notebook, with no sign-in dance through the service; everything else still gets the
service's own answers."""

from __future__ import annotations

import json
import pwd
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import _hub_xsrf
from tests.helpers.coursedb import opened_database
from tests.helpers.gitrepo import EMPTY_NOTEBOOK

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"ana": "ana-pass-123", "ben": "ben-pass-123"}
R_NOTEBOOK = json.dumps(
    {
        "cells": [],
        "metadata": {"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)
LINK = "/services/coursehub/open/stats/week 1/intro.ipynb"


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo(
        {
            "week 1/intro.ipynb": EMPTY_NOTEBOOK,
            "week 1/r.ipynb": R_NOTEBOOK,
            "data/points.csv": "x,y\n1,2\n",
            "course.yaml": "title: Stats\nmappings:\n  - data -> data\n",
        }
    )
    return start_hub("hub-links", users=USERS, courses={"stats": hubproc.Course(repo, ("ana",))})


def _browser(hub: hubproc.RunningHub) -> httpx.Client:
    return httpx.Client(base_url=hub.url, timeout=60, follow_redirects=False)


def _walk(
    client: httpx.Client, url: str, seen: list[str], form: dict | None = None
) -> httpx.Response:
    """Follow redirects as a browser does, noting every address; sign in at the login
    page with `form` when it comes."""
    response = client.get(url)
    while True:
        seen.append(str(response.request.url))
        if response.status_code in (301, 302, 303) and "location" in response.headers:
            response = client.get(response.headers["location"])
        elif form is not None and response.url.path == "/hub/login":
            data = {**form, "_xsrf": _hub_xsrf(client)}
            response = client.post(str(response.url), data=data)
            form = None
        else:
            return response


def _wait_ready(client: httpx.Client, user: str, course: str) -> None:
    with client.stream(
        "GET",
        f"/hub/api/users/{user}/servers/{course}/progress",
        headers={"X-XSRFToken": _hub_xsrf(client)},
        timeout=180,
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                assert not event.get("failed"), event
                if event.get("ready"):
                    return
    raise AssertionError("the progress stream ended without ready")


def test_a_signed_out_click_reaches_the_notebook_without_the_services_sign_in(
    hub: hubproc.RunningHub,
) -> None:
    client = _browser(hub)
    seen: list[str] = []
    page = _walk(client, LINK, seen, form={"username": "ana", "password": USERS["ana"]})
    if page.url.path == "/hub/spawn-pending/ana/stats":  # not started within a second
        _wait_ready(client, "ana", "stats")
        page = _walk(client, str(page.url), seen)
    assert f"{hub.url}/hub/spawn/ana/stats" in {u.split("?")[0] for u in seen}, seen
    assert page.status_code == 200, page.text[-500:]
    assert unquote(page.url.path) == "/user/ana/stats/lab/tree/week 1/intro.ipynb"
    # the service never signed anyone in: no OAuth of its own, no second visit
    assert not [u for u in seen if "oauth2/authorize?client_id=service-coursehub" in u], seen
    assert not [u for u in seen if "/services/coursehub/oauth_callback" in u], seen
    assert [u for u in seen if "/services/coursehub/" in u] == [
        f"{hub.url}{LINK}".replace(" ", "%20")
    ]
    # copied as ana, with the course's mapping beside it, and the open noted
    owner = pwd.getpwnam(hub.unix_name("ana"))
    workspace = Path(owner.pw_dir) / "courses" / "stats"
    assert (workspace / "week 1" / "intro.ipynb").stat().st_uid == owner.pw_uid
    assert (workspace / "week 1" / "data").is_symlink()
    from coursehub.courses.progress import ProgressStore

    with opened_database(f"sqlite:///{hub.data_dir / 'coursehub.sqlite'}") as db:
        assert ProgressStore(db).copies("stats", "ana")["week 1/intro.ipynb"].opens == 1
    # ana's own edits are kept when she clicks again; she lands on JupyterLab at once
    copy = workspace / "week 1" / "intro.ipynb"
    copy.write_text(copy.read_text().replace('"cells": []', '"cells": [], "x": 1'))
    again = _walk(client, LINK, [])
    assert again.status_code == 200 and '"x": 1' in copy.read_text()


@pytest.mark.parametrize(
    "link",
    [
        "/services/coursehub/open/stats/week%201/intro.ipynb",  # a course of others
        "/services/coursehub/open/nope/week%201/intro.ipynb",  # no such course
    ],
)
def test_outsiders_get_the_services_one_answer_and_no_server(
    hub: hubproc.RunningHub, link: str
) -> None:
    client = _browser(hub)
    page = _walk(client, link, [], form={"username": "ben", "password": USERS["ben"]})
    assert page.status_code == 404
    assert "no course called" in page.text
    servers = client.get("/hub/api/users/ben", headers={"X-XSRFToken": _hub_xsrf(client)})
    assert servers.json().get("servers") in ({}, None)


def test_paths_out_of_the_course_through_the_hubs_address_copy_nothing(
    hub: hubproc.RunningHub,
) -> None:
    client = _browser(hub)
    _walk(client, "/hub/login", [], form={"username": "ana", "password": USERS["ana"]})
    for path in ("..%2F..%2F..%2Fetc%2Fpasswd", "week%201%2F..%2F..%2F.git%2Fconfig"):
        page = _walk(client, f"/hub/user-redirect/coursehub:open/stats/{path}", [])
        assert page.status_code in (400, 404), page.url
    workspace = Path(pwd.getpwnam(hub.unix_name("ana")).pw_dir) / "courses" / "stats"
    assert not (workspace / "etc").exists() and not (workspace / ".git").exists()


def test_a_kernel_notice_is_still_the_services_to_show(hub: hubproc.RunningHub) -> None:
    client = _browser(hub)
    link = "/services/coursehub/open/stats/week%201/r.ipynb"
    page = _walk(client, link, [], form={"username": "ana", "password": USERS["ana"]})
    assert page.status_code == 200 and page.url.path.startswith("/services/coursehub/open/")
    assert "kernel=anyway" in page.text  # the notice offers to open it anyway
