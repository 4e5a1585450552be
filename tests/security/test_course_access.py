"""A student of course A probes course B, which they are not in: every course page and
API of B, found from the service's own routers (a route added later is probed too),
and B's notebook links. Whether B exists, and which notebooks it has, is not theirs to
learn: every answer must be the same "not found" as for a course that does not exist."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from coursehub.service import routes
from tests.helpers import hubproc
from tests.helpers.browserless import _hub_xsrf, login

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456"}
MINE, THEIRS, NOWHERE = "alpha", "beta", "nosuchcourse"
SERVICE = "/services/coursehub"
NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
# Values for the other path parameters of course routes.
VALUES = {"path": "intro.ipynb", "name": "ps1", "username": "bob", "student": "bob"}
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
NAVIGATION = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo({"intro.ipynb": NOTEBOOK, "course.yaml": "title: A course\n"})
    site = start_hub(
        "course-access",
        users=USERS,
        courses={
            MINE: hubproc.Course(repo, ("alice",)),
            THEIRS: hubproc.Course(repo, ("bob",)),
        },
    )
    for name, password in USERS.items():  # hub users exist from their first sign-in
        login(site.url, name, password)
    return site


@pytest.fixture(scope="module")
def alice(hub: hubproc.RunningHub) -> Iterator[tuple[httpx.Client, str, str]]:
    """Alice signed in to the service like a browser: (client, her form token, her hub
    API token)."""
    client = login(hub.url, "alice", USERS["alice"])
    page = client.get(f"{SERVICE}/course/{MINE}", follow_redirects=True)
    assert page.status_code == 200, page.text[-500:]
    xsrf = re.search(r'name="coursehub-xsrf" content="([^"]+)"', page.text)
    assert xsrf, page.text[-500:]
    yield client, xsrf.group(1), hub.user_token("alice")
    client.close()


def course_routes() -> list[tuple[str, str]]:
    """(method, path under the service) of every page and API route that names a course
    (the LMS grading API is left out: its courses are the LMS's, not the hub's)."""
    found = []
    for prefix, routers in (("", routes.PAGES), ("/api", routes.API)):
        for router in routers:
            for route in router.routes:
                if not isinstance(route, APIRoute) or "{course}" not in route.path:
                    continue
                if route.path.startswith("/grading/"):
                    continue
                for method in sorted(route.methods - {"HEAD"}):
                    found.append((method, prefix + route.path))
    return found


def _request(
    hub: hubproc.RunningHub, alice: tuple[httpx.Client, str, str], method: str, path: str
) -> httpx.Response:
    client, xsrf, token = alice
    url = f"{hub.url}{SERVICE}{path}"
    if method != "GET" and not path.startswith("/api/"):
        # a page form, posted as her browser would (cookie, form token, navigation)
        headers = {**NAVIGATION, "Origin": hub.url}
        return client.request(method, url, data={"_xsrf": xsrf}, headers=headers)
    with httpx.Client(timeout=30) as api:
        return api.request(method, url, headers={"Authorization": f"token {token}"})


def _answers(
    hub: hubproc.RunningHub, alice: tuple[httpx.Client, str, str], course: str
) -> dict[tuple[str, str], int]:
    answers = {}
    for method, template in course_routes():
        path = PARAM.sub(lambda m: course if m[1] == "course" else VALUES.get(m[1], "1"), template)
        answers[(method, template)] = _request(hub, alice, method, path).status_code
    for method, path in (("GET", f"/api/events?course={course}"),):
        answers[(method, path.replace(course, "{course}"))] = _request(
            hub, alice, method, path
        ).status_code
    return answers


def test_every_course_route_answers_not_found_for_a_course_that_is_not_yours(
    hub: hubproc.RunningHub, alice: tuple[httpx.Client, str, str]
) -> None:
    assert len(course_routes()) >= 20  # the enumeration found the routes
    theirs = _answers(hub, alice, THEIRS)
    nowhere = _answers(hub, alice, NOWHERE)
    # Site admin pages refuse every non-admin alike (403), whatever the course: they
    # are not a course's pages, and they tell nothing either (the last line).
    odd = {
        route: status
        for route, status in theirs.items()
        if status != 404 and not route[1].startswith("/admin/")
    }
    assert odd == {}, f"answers other than 404 for {THEIRS}: {odd}"
    assert theirs == nowhere


def test_notebook_links_do_not_tell_whether_a_course_or_notebook_exists(
    hub: hubproc.RunningHub, alice: tuple[httpx.Client, str, str]
) -> None:
    client = alice[0]
    links = {
        "existing notebook": f"{SERVICE}/open/{THEIRS}/intro.ipynb",
        "missing notebook": f"{SERVICE}/open/{THEIRS}/missing.ipynb",
        "missing course": f"{SERVICE}/open/{NOWHERE}/intro.ipynb",
        "missing course and notebook": f"{SERVICE}/open/{NOWHERE}/missing.ipynb",
    }
    answers = {}
    for what, link in links.items():
        got = client.get(link)
        text = re.sub(r"<[^>]+>|\s+", " ", got.text)
        text = text.replace(THEIRS, "X").replace(NOWHERE, "X").replace("missing", "intro")
        answers[what] = (got.status_code, text)
    statuses = {what: status for what, (status, _) in answers.items()}
    assert set(statuses.values()) == {404}, statuses
    assert len({text for _, text in answers.values()}) == 1, answers


def test_links_opened_by_the_hub_tell_no_more(hub: hubproc.RunningHub) -> None:
    """Signed in to the hub but not to the service, a click on a link goes through the
    hub's own address for it (hub/course_links.py): the same answers, and no server."""
    client = login(hub.url, "alice", USERS["alice"])  # the hub's cookie only
    answers = {}
    for course in (THEIRS, NOWHERE):
        for notebook in ("intro.ipynb", "missing.ipynb"):
            got = client.get(f"{SERVICE}/open/{course}/{notebook}", follow_redirects=True)
            text = re.sub(r"<[^>]+>|\s+", " ", got.text).replace(course, "X")
            answers[(course, notebook)] = (got.status_code, text.replace("missing", "intro"))
    assert {status for status, _ in answers.values()} == {404}, answers
    assert len({text for _, text in answers.values()}) == 1, answers
    # straight to the hub's address: the same, whatever follows the course
    direct = client.get(f"/hub/user-redirect/coursehub:open/{THEIRS}/intro.ipynb")
    assert direct.status_code == 302
    assert direct.headers["location"].startswith(f"{SERVICE}/open/{THEIRS}/intro.ipynb?")
    hub_xsrf = {"X-XSRFToken": _hub_xsrf(client)}
    servers = client.get(f"{hub.url}/hub/api/users/alice", headers=hub_xsrf).json()
    assert THEIRS not in (servers.get("servers") or {})
