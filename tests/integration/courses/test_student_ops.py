"""What students and staff do with a course once it runs: notebook status through a
course update, reset, sharing, and the staff page (pull with streamed output,
counts), on a real hub with real servers, accounts and git repositories."""

from __future__ import annotations

import json
import pwd
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.gitrepo import commit_all

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {
    "alice": "alice-pass-123",
    "bob": "bob-pass-456",
    "tina": "tina-pass-789",
    "adam": "adam-pass-000",
}
COURSE = "stats"
SERVICE = "/services/coursehub"


def _notebook(text: str) -> str:
    cell = {"cell_type": "markdown", "id": "c1", "metadata": {}, "source": text}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture(scope="module")
def repo(make_course_repo: Callable[..., Path]) -> Path:
    return make_course_repo(
        {
            "week1/intro.ipynb": _notebook("# Course version one"),
            "week1/more.ipynb": _notebook("# More"),
            "course.yaml": "title: Statistics\n",
        }
    )


@pytest.fixture(scope="module")
def hub(start_hub: Callable[..., hubproc.RunningHub], repo: Path) -> hubproc.RunningHub:
    return start_hub(
        "student-ops",
        users=USERS,
        roles={"tina": "instructor", "adam": "admin"},
        courses={COURSE: hubproc.Course(repo, ("alice", "bob"), {"tina": "instructor"})},
    )


def _open(client: httpx.Client, user: str, path: str) -> httpx.Response:
    """Follow a notebook link like a browser, waiting on the hub's progress page."""
    link = f"{SERVICE}/open/{COURSE}/{path}"
    response = client.get(link, follow_redirects=True)
    if "/lab/tree/" not in str(response.url):
        events = start_server(client, user, server=COURSE)
        assert events[-1].get("ready"), events
        response = client.get(link, follow_redirects=True)
    assert response.status_code == 200, response.text[-500:]
    return response


def _page(client: httpx.Client, path: str) -> str:
    response = client.get(f"{SERVICE}{path}", follow_redirects=True)
    assert response.status_code == 200, response.text[-500:]
    return response.text


def _status(client: httpx.Client, notebook: str) -> str:
    page = _page(client, f"/course/{COURSE}")
    row = re.search(rf'<tr data-notebook="{re.escape(notebook)}">(.*?)</tr>', page, re.S)
    assert row, page
    status = re.search(r'<span class="status[^"]*">([^<]*)</span>', row.group(1))
    assert status, row.group(1)
    return status.group(1).strip()


def _xsrf(page: str) -> str:
    found = re.search(r'name="coursehub-xsrf" content="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _post(client: httpx.Client, path: str, page_path: str, **fields: str) -> httpx.Response:
    xsrf = _xsrf(_page(client, page_path))
    return client.post(f"{SERVICE}{path}", data={"_xsrf": xsrf, **fields})


def _edit_as_student(hub: hubproc.RunningHub, user: str, path: str, text: str) -> None:
    """Save through the student's own server, as JupyterLab would."""
    token = hub.user_token(user)
    response = httpx.put(
        f"{hub.url}/user/{user}/{COURSE}/api/contents/{path}",
        headers={"Authorization": f"token {token}"},
        json={"type": "notebook", "format": "json", "content": json.loads(_notebook(text))},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_edits_survive_a_course_update_and_reset_keeps_them(
    hub: hubproc.RunningHub, repo: Path
) -> None:
    alice = login(hub.url, "alice", USERS["alice"])
    tina = login(hub.url, "tina", USERS["tina"])
    workspace = hub.home_root / hub.unix_name("alice") / "courses" / COURSE
    copy = workspace / "week1" / "intro.ipynb"

    assert _status(alice, "week1/intro.ipynb").startswith("not opened")
    _open(alice, "alice", "week1/intro.ipynb")
    assert copy.stat().st_uid == pwd.getpwnam(hub.unix_name("alice")).pw_uid
    assert _status(alice, "week1/intro.ipynb").startswith("opened")

    _edit_as_student(hub, "alice", "week1/intro.ipynb", "# My answer")
    assert _status(alice, "week1/intro.ipynb").startswith("modified")

    # The instructor changes the notebook and pulls from the staff page: the output
    # of git is streamed back, and the student's edit survives.
    (repo / "week1" / "intro.ipynb").write_text(_notebook("# Course version two"))
    commit_all(repo, "second")
    pulled = _post(tina, f"/course/{COURSE}/staff/pull", f"/course/{COURSE}/staff")
    assert pulled.status_code == 200, pulled.text[-500:]
    assert "$ git fetch" in pulled.text and "Updated to" in pulled.text, pulled.text
    assert "My answer" in copy.read_text()
    status = _status(alice, "week1/intro.ipynb")
    assert "modified" in status and "course version changed" in status, status

    # Reset: the course version comes back, the student's own is kept beside it.
    page = f"/course/{COURSE}/reset/week1/intro.ipynb"
    assert "Reset to the course version" in _page(alice, page)
    done = _post(alice, page, page)
    assert done.status_code == 200, done.text[-500:]
    kept = re.search(r"<code>(intro\.mine-[0-9-]+\.ipynb)</code>", done.text)
    assert kept, done.text
    assert "My answer" in (copy.parent / kept.group(1)).read_text()
    assert "Course version two" in copy.read_text()
    assert (copy.parent / kept.group(1)).stat().st_uid == copy.stat().st_uid
    assert _status(alice, "week1/intro.ipynb").startswith("opened")
    assert "course version changed" not in _status(alice, "week1/intro.ipynb")


def test_sharing_publishes_a_sandboxed_snapshot_at_a_stable_link(hub: hubproc.RunningHub) -> None:
    bob = login(hub.url, "bob", USERS["bob"])
    _open(bob, "bob", "week1/more.ipynb")
    _edit_as_student(hub, "bob", "week1/more.ipynb", "# Bob's <script>alert(1)</script> work")
    shared = _post(bob, f"/course/{COURSE}/share/week1/more.ipynb", f"/course/{COURSE}")
    assert shared.status_code == 200, shared.text[-500:]
    url = re.search(r'id="share-url" readonly value="([^"]+)"', shared.text).group(1)
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 32

    anonymous = httpx.get(url, timeout=30)  # no cookies: the link alone is enough
    assert anonymous.status_code == 200
    assert "Bob" in anonymous.text and "work" in anonymous.text
    csp = anonymous.headers["content-security-policy"]
    assert csp.startswith("sandbox") and "default-src 'none'" in csp

    # Sharing again keeps the link and updates the copy.
    _edit_as_student(hub, "bob", "week1/more.ipynb", "# Bob's second draft")
    again = _post(bob, f"/course/{COURSE}/share/week1/more.ipynb", f"/course/{COURSE}")
    assert url in again.text
    assert "second draft" in httpx.get(url, timeout=30).text

    # Unguessable: a wrong token is a 404; stopping sharing makes the link dead.
    assert httpx.get(url[:-4] + "AAAA", timeout=30).status_code == 404
    stopped = _post(bob, f"/course/{COURSE}/unshare/week1/more.ipynb", f"/course/{COURSE}")
    assert stopped.status_code == 303
    assert httpx.get(url, timeout=30).status_code == 404


def test_forms_need_their_xsrf_field_and_the_right_role(hub: hubproc.RunningHub) -> None:
    bob = login(hub.url, "bob", USERS["bob"])
    _page(bob, f"/course/{COURSE}")  # signed in to the service
    # No field, or a wrong one: refused, nothing done.
    no_field = bob.post(f"{SERVICE}/course/{COURSE}/reset/week1/more.ipynb")
    assert no_field.status_code == 403
    forged = bob.post(f"{SERVICE}/course/{COURSE}/share/week1/more.ipynb", data={"_xsrf": "0" * 40})
    assert forged.status_code == 403
    # A cross-site form post is refused even with a good field.
    xsrf = _xsrf(_page(bob, f"/course/{COURSE}"))
    cross = bob.post(
        f"{SERVICE}/course/{COURSE}/share/week1/more.ipynb",
        data={"_xsrf": xsrf},
        headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    )
    assert cross.status_code == 403
    # Students see no staff page and cannot pull.
    assert bob.get(f"{SERVICE}/course/{COURSE}/staff").status_code == 403
    pull = bob.post(f"{SERVICE}/course/{COURSE}/staff/pull", data={"_xsrf": xsrf})
    assert pull.status_code == 403
    # A course one is not enrolled in does not exist as far as the pages go.
    assert bob.get(f"{SERVICE}/course/nosuchcourse").status_code == 404


def test_staff_page_counts_who_opened_each_notebook(hub: hubproc.RunningHub) -> None:
    alice = login(hub.url, "alice", USERS["alice"])
    _open(alice, "alice", "week1/intro.ipynb")
    tina = login(hub.url, "tina", USERS["tina"])
    page = _page(tina, f"/course/{COURSE}/staff")
    counts = dict(
        re.findall(r'<tr data-notebook="([^"]+)"><td>.*?</td>\s*<td class="count">([^<]+)', page)
    )
    # alice opened intro (this module's first test too); tina's own opens never count
    assert counts["week1/intro.ipynb"].split() == ["1", "/", "2"], counts
    assert counts["week1/more.ipynb"].split()[-1] == "2", counts
    assert 'data-user="alice"' in page and 'data-user="tina"' in page
    assert "not built yet" in page  # no environment built in this module


def test_instructors_enrol_and_remove_people_from_the_staff_page(hub: hubproc.RunningHub) -> None:
    tina = login(hub.url, "tina", USERS["tina"])
    staff = f"/course/{COURSE}/staff"
    done = _post(tina, f"{staff}/enrol", staff, usernames="carol, dave\n", role="ta")
    assert done.status_code == 303 and done.headers["location"].endswith("?enrolled=2")
    page = _page(tina, staff + "?enrolled=2")
    assert 'data-user="carol"' in page and "2 enrolled." in page
    # One bad name: nobody is enrolled, and the page says which name and why.
    bad = _post(tina, f"{staff}/enrol", staff, usernames="erin Bad!Name", role="student")
    assert bad.status_code == 400 and "Nobody was enrolled" in bad.text
    assert 'data-user="erin"' not in _page(tina, staff)
    for name in ("carol", "dave"):
        removed = _post(tina, f"{staff}/unenrol/{name}", staff)
        assert removed.status_code == 303
    assert 'data-user="carol"' not in _page(tina, staff)
    # Students cannot use the form even with their own valid XSRF field.
    bob = login(hub.url, "bob", USERS["bob"])
    refused = _post(bob, f"{staff}/enrol", f"/course/{COURSE}", usernames="mallory")
    assert refused.status_code == 403


def test_site_admins_add_archive_and_remove_courses_from_a_page(
    hub: hubproc.RunningHub, repo: Path
) -> None:
    adam = login(hub.url, "adam", USERS["adam"])
    admin = "/admin/courses"
    added = _post(adam, f"{admin}/add", admin, name="extra", repo=str(repo), branch="")
    assert added.status_code == 200 and "Added course extra" in added.text, added.text[-400:]
    assert 'data-course="extra"' in _page(adam, admin)
    assert _post(adam, f"{admin}/extra/archive", admin).status_code == 303
    row = re.search(r'<tr data-course="extra">(.*?)</tr>', _page(adam, admin), re.S).group(1)
    assert "archived" in row
    # A clone that fails says why, and leaves no course behind.
    failed = _post(adam, f"{admin}/add", admin, name="ghost", repo="/nonexistent/repo")
    assert 'class="outcome failed"' in failed.text
    assert 'data-course="ghost"' not in _page(adam, admin)
    # Removal needs the name typed again.
    wrong = _post(adam, f"{admin}/extra/remove", admin, confirm="extr")
    assert wrong.status_code == 400
    assert _post(adam, f"{admin}/extra/remove", admin, confirm="extra").status_code == 303
    assert 'data-course="extra"' not in _page(adam, admin)
    assert not (hub.data_dir / "courses" / "extra").exists()
    # Nobody else gets the page.
    bob = login(hub.url, "bob", USERS["bob"])
    assert bob.get(f"{SERVICE}{admin}", follow_redirects=True).status_code == 403


def test_events_go_through_the_real_hub_tokens(hub: hubproc.RunningHub) -> None:
    api = f"{hub.url}{SERVICE}/api/events"
    alice = {"Authorization": f"Bearer {hub.user_token('alice')}"}
    event = {"type": "notebook_saved", "course": COURSE, "path": "week1/intro.ipynb"}
    posted = httpx.post(api, json=event | {"data": {"sha256": "ab"}}, headers=alice, timeout=30)
    assert posted.status_code == 201, posted.text
    bob = {"Authorization": f"token {hub.user_token('bob')}"}
    assert httpx.post(api, json=event | {"user": "alice"}, headers=bob).status_code == 403
    tina = {"Authorization": f"Bearer {hub.user_token('tina')}"}
    read = httpx.get(api, params={"course": COURSE, "user": "alice"}, headers=tina, timeout=30)
    assert read.status_code == 200
    assert posted.json()["id"] in [e["id"] for e in read.json()["events"]]
    assert httpx.get(api, params={"course": COURSE}, headers=bob).status_code == 403
    assert httpx.get(api, params={"course": "nosuch"}, headers=tina).status_code == 404
