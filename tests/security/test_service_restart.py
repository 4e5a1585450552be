"""What the service acknowledged survives its sudden death: events (201), a
submission (201, its grading still queued) and a grade by hand (200) are all there
after `kill -9` of the service process and the hub's restart of it. Acknowledged
means answered 2xx: nothing is answered before it is committed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.assignments import answer_nbgrader, nbgrader_source
from tests.helpers.browserless import login
from tests.helpers.rawhttp import service_process

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "tina": "tina-pass-456"}
COURSE = "alpha"
SERVICE = "/services/coursehub"
API = f"{SERVICE}/api/courses/{COURSE}/assignments/ps1"


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo({"course.yaml": "title: Alpha\n"})
    site = start_hub(
        "service-restart",
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


def _wait_for_new_service(hub: hubproc.RunningHub, old_pid: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if service_process(hub.data_dir).pid != old_pid:
                health = httpx.get(f"{hub.url}{SERVICE}/health", timeout=5)
                if health.status_code == 200:
                    return
        except (AssertionError, httpx.TransportError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"the service did not come back within {timeout}s\n{hub.log_tail()}")


def test_a_killed_service_loses_nothing_it_acknowledged(hub: hubproc.RunningHub) -> None:
    alice = {"Authorization": f"token {hub.user_token('alice')}"}
    tina = {"Authorization": f"token {hub.user_token('tina')}"}
    with httpx.Client(base_url=hub.url, timeout=60) as c:
        ids = []
        for n in range(50):
            event = {"type": "notebook_saved", "course": COURSE, "path": f"nb{n}.ipynb"}
            posted = c.post(f"{SERVICE}/api/events", json=event, headers=alice)
            assert posted.status_code == 201, posted.text
            ids.append(posted.json()["id"])
        released = hub.data_dir / "released" / COURSE / "ps1" / "ps1.ipynb"
        work = answer_nbgrader(released, "    return x * x\n")
        submitted = c.post(f"{API}/submit", files=[("files", ("ps1.ipynb", work))], headers=alice)
        assert submitted.status_code == 201, submitted.text
        sid = submitted.json()["id"]
        comment = "kept across a crash"
        graded = c.post(
            f"{API}/manual",
            json={"submission": sid, "question": "explain", "points": 1, "comment": comment},
            headers=tina,
        )
        assert graded.status_code == 200, graded.text
        service = service_process(hub.data_dir)
        os.kill(service.pid, signal.SIGKILL)  # right after the last acknowledgement

        _wait_for_new_service(hub, service.pid)
        events = c.get(
            f"{SERVICE}/api/events",
            params={"course": COURSE, "user": "alice", "limit": 1000},
            headers=tina,
        )
        assert events.status_code == 200, events.text
        assert set(ids) <= {e["id"] for e in events.json()["events"]}
        mine = c.get(f"{API}/submissions", headers=alice)
        assert mine.status_code == 200, mine.text
        assert sid in [a["id"] for a in mine.json()["attempts"]], mine.text
        # The submission queued before the kill is graded after it, with the grade by
        # hand beside the automatic points.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            detail = c.get(f"{API}/students/alice", headers=tina)
            assert detail.status_code == 200, detail.text
            attempt = detail.json()["attempts"][0]
            if attempt["status"] in ("done", "failed"):
                break
            time.sleep(2)
        assert attempt["status"] == "done", detail.text
        assert attempt["questions"]["explain"]["points"] == 1, detail.text
        assert comment in detail.text, detail.text
