"""Assignments end to end on a real hub: an instructor creates and releases an nbgrader
and an otter assignment, two students work in their own course servers and submit,
the service grades each submission in the sandbox, students see feedback without the
hidden tests, and the gradebook exports the right CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.assignments import answer_nbgrader, answer_otter, nbgrader_source, otter_master
from tests.helpers.browserless import login, start_server
from tests.helpers.grading_site import grading_site
from tests.integration.conftest import Cleanup

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456", "tina": "tina-pass-789"}
COURSE = "grade"
API = "/services/coursehub/api/courses/grade/assignments"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, cleanup: Cleanup) -> Iterator[hubproc.RunningHub]:
    sources = tmp_path_factory.mktemp("sources")
    with grading_site(
        "grading-site", COURSE, USERS, {"tina": "instructor"}, later=cleanup.later
    ) as site:
        for args in (
            ("assignment", "create", COURSE, "ps1", "--from",
             str(nbgrader_source(sources / "ps1"))),
            ("assignment", "create", COURSE, "squares", "--from",
             str(otter_master(sources / "squares" / "squares.ipynb"))),
        ):  # fmt: skip
            done = site.cli(*args)
            assert done.returncode == 0, done.stdout + done.stderr
        yield site


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def _wait_graded(hub: hubproc.RunningHub, token: str, name: str, attempts: int = 1) -> dict:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        mine = httpx.get(f"{hub.url}{API}/{name}/submissions", headers=_auth(token)).json()
        done = [a for a in mine["attempts"] if a["status"] in ("done", "failed")]
        if len(done) >= attempts:
            return mine
        time.sleep(1)
    raise AssertionError(f"{name} was not graded in time: {mine}\n{hub.log_tail()}")


def test_release_submit_grade_feedback_gradebook(hub: hubproc.RunningHub) -> None:
    login(hub.url, "tina", USERS["tina"])  # hub users exist from their first sign-in
    tokens = {"tina": hub.user_token("tina")}
    clients = {}
    for student in ("alice", "bob"):
        clients[student] = login(hub.url, student, USERS[student])
        events = start_server(clients[student], student, server=COURSE)
        assert events and events[-1].get("ready"), events
        tokens[student] = hub.user_token(student)

    # Students do not see assignments before release.
    listed = httpx.get(f"{hub.url}{API}", headers=_auth(tokens["alice"])).json()
    assert listed["assignments"] == []
    for name in ("ps1", "squares"):
        released = httpx.post(f"{hub.url}{API}/{name}/release", headers=_auth(tokens["tina"]))
        assert released.status_code == 200, released.text
        assert released.json()["copied_to"] == 2
    listed = httpx.get(f"{hub.url}{API}", headers=_auth(tokens["alice"])).json()
    assert {a["name"] for a in listed["assignments"]} == {"ps1", "squares"}
    # A student may not release.
    refused = httpx.post(f"{hub.url}{API}/ps1/release", headers=_auth(tokens["alice"]))
    assert refused.status_code == 403

    # Each student works in their own server: the release is in their workspace.
    released_dir = hub.data_dir / "released" / COURSE
    answers = {
        ("alice", "ps1"): answer_nbgrader(released_dir / "ps1" / "ps1.ipynb", "    return x * x\n"),
        ("bob", "ps1"): answer_nbgrader(released_dir / "ps1" / "ps1.ipynb", "    return x + x\n"),
        ("alice", "squares"): answer_otter(
            released_dir / "squares" / "squares.ipynb", "49", "    return 2 * x\n"
        ),
        ("bob", "squares"): answer_otter(
            released_dir / "squares" / "squares.ipynb", "49.0", "    return x + x\n"
        ),
    }
    notebooks = {"ps1": "ps1.ipynb", "squares": "squares.ipynb"}
    for (student, name), data in answers.items():
        path = f"assignments/{name}/{notebooks[name]}"
        server = f"{hub.url}/user/{student}/{COURSE}/api/contents/"
        got = httpx.get(server + path, headers=_auth(tokens[student]), timeout=30)
        assert got.status_code == 200, got.text  # released into the workspace
        saved = httpx.put(
            server + path,
            headers=_auth(tokens[student]),
            json={"type": "notebook", "format": "json", "content": json.loads(data)},
            timeout=30,
        )
        assert saved.status_code == 200, saved.text

    # Submit: the service reads the folder as the student; the token says who.
    ids = {}
    for (student, name), _data in answers.items():
        key = f"{student}-{name}-1"
        first = httpx.post(
            f"{hub.url}{API}/{name}/submit?username=alice",
            headers={**_auth(tokens[student]), "Idempotency-Key": key},
            timeout=60,
        )
        assert first.status_code == 201, first.text
        again = httpx.post(
            f"{hub.url}{API}/{name}/submit",
            headers={**_auth(tokens[student]), "Idempotency-Key": key},
            timeout=60,
        )
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["id"] == first.json()["id"]
        assert first.json()["attempt"] == 1
        ids[(student, name)] = first.json()["id"]

    results = {}
    for student in ("alice", "bob"):
        for name in ("ps1", "squares"):
            mine = _wait_graded(hub, tokens[student], name)
            assert mine["username"] == student  # bob's "?username=alice" changed nothing
            assert [a["id"] for a in mine["attempts"]] == [ids[(student, name)]]
            results[(student, name)] = mine["attempts"][0]

    def points(student: str, name: str, question: str) -> float:
        return results[(student, name)]["questions"][question]["points"]

    assert points("alice", "ps1", "test_square") == 2, json.dumps(results[("alice", "ps1")])
    assert points("bob", "ps1", "test_square") == 0
    assert results[("alice", "ps1")]["pending_manual"] is True
    assert points("alice", "squares", "q1") == 2 and points("alice", "squares", "q2") == 3
    assert points("bob", "squares", "q1") == 1  # 49.0 passes the public test, not the hidden
    assert points("bob", "squares", "q2") == 3
    assert results[("alice", "squares")]["total"] == 5
    assert results[("bob", "squares")]["total"] == 4

    # Feedback: a sandboxed page without the hidden tests; only for its author and staff.
    for (student, name), sid in ids.items():
        url = f"{hub.url}{API}/{name}/feedback/{sid}/{notebooks[name]}"
        page = httpx.get(url, headers=_auth(tokens[student]))
        assert page.status_code == 200, page.text
        assert "sandbox" in page.headers["content-security-policy"]
        assert "square(-2)" not in page.text and "isinstance" not in page.text
        other = "bob" if student == "alice" else "alice"
        assert httpx.get(url, headers=_auth(tokens[other])).status_code == 404
        assert httpx.get(url, headers=_auth(tokens["tina"])).status_code == 200
    hidden_msg = results[("bob", "squares")]["questions"]["q1"]["message"]
    assert "hidden tests: 0 of 1 passed" in hidden_msg and "isinstance" not in hidden_msg

    # Students never reach the gradebook.
    for student in ("alice", "bob"):
        for path in ("gradebook", "gradebook.csv", "students/alice"):
            got = httpx.get(f"{hub.url}{API}/ps1/{path}", headers=_auth(tokens[student]))
            assert got.status_code == 403, (path, got.status_code)

    # Manual grading, then the CSV export (service and CLI agree).
    manual = httpx.post(
        f"{hub.url}{API}/ps1/manual",
        headers=_auth(tokens["tina"]),
        json={"submission": ids[("alice", "ps1")], "question": "explain", "points": 1,
              "comment": "Good."},
    )  # fmt: skip
    assert manual.status_code == 200, manual.text
    exported = httpx.get(f"{hub.url}{API}/ps1/gradebook.csv", headers=_auth(tokens["tina"]))
    assert exported.status_code == 200
    rows = {r["username"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert set(rows) == {"alice", "bob"}
    assert (rows["alice"]["test_square"], rows["alice"]["explain"], rows["alice"]["total"]) == (
        "2", "1", "3",
    )  # fmt: skip
    assert (rows["bob"]["test_square"], rows["bob"]["total"], rows["bob"]["max"]) == ("0", "0", "3")
    cli = hub.cli("assignment", "export", COURSE, "ps1")
    assert cli.returncode == 0 and cli.stdout == exported.text
    squares = hub.cli("assignment", "export", COURSE, "squares").stdout
    totals = {r["username"]: r["total"] for r in csv.DictReader(io.StringIO(squares))}
    assert totals == {"alice": "5", "bob": "4"}

    # The stored submissions are root's alone: no student account can read them.
    stored = hub.data_dir / "submissions"
    assert stored.stat().st_mode & 0o077 == 0
