"""Anyone who can reach the site streams a 200 MB chunked body (no Content-Length to
refuse up front) at the service's upload and form routes, hoping it buffers all of it
before asking who they are; then a signed-in student does the same to the routes they
may use. The service must answer early (401/403, or 413 once the route's limit is
read) and its memory must stay flat."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.assignments import nbgrader_source
from tests.helpers.browserless import login
from tests.helpers.rawhttp import chunked_post, memory, service_process

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "tina": "tina-pass-456"}
COURSE = "alpha"
SERVICE = "/services/coursehub"
TOTAL = 200 * 1024 * 1024
MB = 1024 * 1024
UPLOAD_LIMIT = 52 * MB  # an assignment's 50 MB of files plus the form around them
BOUNDARY = "coursehubattack"
MULTIPART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
    'filename="ps1.ipynb"\r\nContent-Type: application/octet-stream\r\n\r\n'
).encode()
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}
NAVIGATION = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo({"intro.ipynb": '{"cells": [], "metadata": {}, "nbformat": 4, '
                             '"nbformat_minor": 5}', "course.yaml": "title: Alpha\n"})  # fmt: skip
    site = start_hub(
        "bounded-input",
        outside_tmp=True,
        users=USERS,
        roles={"tina": "instructor"},
        courses={COURSE: hubproc.Course(repo, ("alice",), {"tina": "instructor"})},
    )
    source = nbgrader_source(site.config.parent / "sources" / "ps1")
    for args in (
        ("assignment", "create", COURSE, "ps1", "--from", str(source)),
        ("assignment", "release", COURSE, "ps1"),
    ):
        done = site.cli(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    for name, password in USERS.items():  # hub users exist from their first sign-in
        login(site.url, name, password)
    return site


def _browser_session(hub: hubproc.RunningHub, user: str) -> tuple[str, str]:
    """(Cookie header, _xsrf field) of `user` signed in to the service like a browser."""
    client = login(hub.url, user, USERS[user])
    page = client.get(f"{SERVICE}/course/{COURSE}", follow_redirects=True)
    assert page.status_code == 200, page.text[-500:]
    xsrf = re.search(r'name="coursehub-xsrf" content="([^"]+)"', page.text)
    assert xsrf, page.text[-500:]
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    return cookie, xsrf.group(1)


def test_unauthenticated_chunked_bodies_are_refused_before_they_are_read(
    hub: hubproc.RunningHub,
) -> None:
    service = service_process(hub.data_dir)
    peak_before = memory(service)
    attacks = {
        "submit (API upload)": (
            f"{SERVICE}/api/courses/{COURSE}/assignments/ps1/submit", MULTIPART, MULTIPART_HEAD
        ),
        "create (API upload)": (
            f"{SERVICE}/api/courses/{COURSE}/assignments?name=evil", MULTIPART, MULTIPART_HEAD
        ),
        "create (staff upload form)": (
            f"{SERVICE}/course/{COURSE}/staff/assignments", {**MULTIPART, **NAVIGATION},
            MULTIPART_HEAD,
        ),
        "share (form)": (
            f"{SERVICE}/course/{COURSE}/share/intro.ipynb", {**URLENCODED, **NAVIGATION},
            b"_xsrf=0&x=",
        ),
        "events (API)": (f"{SERVICE}/api/events", {"Content-Type": "application/json"}, b"["),
    }  # fmt: skip
    results = {}
    for name, (path, headers, first) in attacks.items():
        results[name] = chunked_post(hub.url, path, headers, TOTAL, first=first)
    grown = memory(service) - peak_before
    summary = {n: (r.status, r.sent // MB, round(r.seconds, 1)) for n, r in results.items()}
    for name, got in results.items():
        assert got.status in (401, 403, 413), (name, got.head, summary)
        assert got.sent < 16 * MB, (name, summary)  # answered early, not after 200 MB
        assert got.seconds < 20, (name, summary)
    assert grown < 64 * MB, (grown // MB, summary)


def test_signed_in_students_bodies_are_cut_at_the_routes_limit(hub: hubproc.RunningHub) -> None:
    service = service_process(hub.data_dir)
    peak_before = memory(service)
    token = hub.user_token("alice")
    bearer = {"Authorization": f"token {token}"}
    cookie, xsrf = _browser_session(hub, "alice")
    attacks = {
        "submit (API upload)": (
            f"{SERVICE}/api/courses/{COURSE}/assignments/ps1/submit", {**MULTIPART, **bearer},
            MULTIPART_HEAD, UPLOAD_LIMIT,
        ),
        "share (form)": (
            f"{SERVICE}/course/{COURSE}/share/intro.ipynb",
            {**URLENCODED, **NAVIGATION, "Cookie": cookie, "Origin": hub.url},
            f"_xsrf={xsrf}&x=".encode(), 2 * MB,
        ),
        "events (API)": (
            f"{SERVICE}/api/events", {"Content-Type": "application/json", **bearer}, b"[", 2 * MB,
        ),
    }  # fmt: skip
    results = {}
    for name, (path, headers, first, _limit) in attacks.items():
        results[name] = chunked_post(hub.url, path, headers, TOTAL, first=first)
    grown = memory(service) - peak_before
    summary = {n: (r.status, r.sent // MB, round(r.seconds, 1)) for n, r in results.items()}
    for name, (_path, _headers, _first, limit) in attacks.items():
        got = results[name]
        assert got.status == 413, (name, got.head, summary)
        shape = '"code":"too_large"' if "/api/" in attacks[name][0] else "Too Large"
        assert shape in got.body, (name, got.head, got.body[:300])
        assert got.sent < limit + 16 * MB, (name, summary)
        assert got.seconds < 30, (name, summary)
    assert grown < 64 * MB, (grown // MB, summary)
    # The service still works for the student afterwards.
    listed = httpx.get(f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments", headers=bearer)
    assert listed.status_code == 200, listed.text
