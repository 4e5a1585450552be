"""The live class view end to end: a real hub, real student servers with the coursehub
server extension, real kernels; an instructor's event stream receives what students do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import websockets

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {
    "alice": "alice-pass-123",
    "bob": "bob-pass-456",
    "tina": "tina-pass-789",
    "olga": "olga-pass-000",
}
COURSE = "live"
OTHER = "other"
NOTEBOOK = "lab1.ipynb"
SERVICE = "/services/coursehub"


def _nb(*sources: str) -> dict:
    cells = [
        {
            "cell_type": "code",
            "id": f"c{i}",
            "metadata": {},
            "source": src,
            "outputs": [],
            "execution_count": None,
        }
        for i, src in enumerate(sources)
    ]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def repo(make_course_repo: Callable[..., Path]) -> Path:
    notebook = json.dumps(_nb("x = 1", "print(x)"))
    return make_course_repo({NOTEBOOK: notebook, "course.yaml": "title: Live lab\n"})


@pytest.fixture(scope="module")
def hub(start_hub: Callable[..., hubproc.RunningHub], repo: Path) -> hubproc.RunningHub:
    site = start_hub(
        "live",
        users=USERS,
        roles={"tina": "instructor", "olga": "instructor"},
        courses={
            COURSE: hubproc.Course(repo, ("alice", "bob"), {"tina": "instructor"}),
            OTHER: hubproc.Course(repo, staff={"olga": "instructor"}),
        },
    )
    for name, password in USERS.items():  # hub users exist from their first sign-in
        login(site.url, name, password)
    return site


class Stream:
    """An event-stream client in a thread: what a dashboard receives, as it arrives."""

    def __init__(self, url: str, token: str):
        self.events: queue.Queue[tuple[str, dict]] = queue.Queue()
        self.status = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, token), daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "the event stream did not answer"

    def _run(self, url: str, token: str) -> None:
        headers = {"Authorization": f"token {token}"}
        with httpx.stream("GET", url, headers=headers, timeout=None) as response:
            self.status = response.status_code
            self._ready.set()
            if response.status_code != 200:
                return
            kind = ""
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self.events.put((kind, json.loads(line[6:])))

    def next(self, kind: str, match: dict, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {kind} event matching {match} within {timeout} s"
            try:
                got_kind, data = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if got_kind == kind and all(data.get(k) == v for k, v in match.items()):
                return data

    def close(self) -> None:
        self._stop.set()


def _open_notebook(client: httpx.Client, user: str) -> None:
    link = f"{SERVICE}/open/{COURSE}/{NOTEBOOK}"
    response = client.get(link, follow_redirects=True)
    if "/lab/tree/" not in str(response.url):
        events = start_server(client, user, server=COURSE)
        assert events[-1].get("ready"), events
        response = client.get(link, follow_redirects=True)
    assert response.status_code == 200, response.text[-300:]


def _server_token(hub: hubproc.RunningHub, user: str) -> str:
    """The hub token the student's course server itself holds.

    Read from inside: a kernel of that server inherits its environment. (A forked
    server's /proc/PID/environ still shows the template's start-up environment.)
    """
    token = hub.user_token(user)
    code = (
        "import os; print(os.environ['JUPYTERHUB_SERVER_NAME'], os.environ['JUPYTERHUB_API_TOKEN'])"
    )
    ran = run_code(f"{hub.url}/user/{user}/{COURSE}/", token, code)
    assert ran["error"] is None, ran
    name, server_token = ran["stdout"].split()
    assert name == COURSE and server_token != token
    return server_token


async def _run_cell(ws_url: str, token: str, code: str) -> str:
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "alice",
            "session": uuid.uuid4().hex,
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {"cellId": "c1"},
        "content": {"code": code, "silent": False, "store_history": True},
        "channel": "shell",
    }
    async with websockets.connect(
        ws_url, additional_headers={"Authorization": f"token {token}"}
    ) as ws:
        await ws.send(json.dumps(request))
        async with asyncio.timeout(60):
            while True:
                msg = json.loads(await ws.recv())
                if (
                    msg.get("msg_type") == "execute_reply"
                    and msg.get("parent_header", {}).get("msg_id") == msg_id
                ):
                    return msg["content"]["status"]


def test_save_and_run_reach_the_dashboard_live(hub: hubproc.RunningHub) -> None:
    alice = login(hub.url, "alice", USERS["alice"])
    _open_notebook(alice, "alice")
    tina_token = hub.user_token("tina")
    stream = Stream(f"{hub.url}{SERVICE}/course/{COURSE}/live/stream?path={NOTEBOOK}", tina_token)
    try:
        assert stream.status == 200
        snapshot = stream.next("snapshot", {"course": COURSE})
        assert snapshot["students"] == ["alice", "bob"]

        # Alice saves through her own server, as JupyterLab does: the server extension
        # reports it, the service stores it and pushes it to the instructor.
        token = hub.user_token("alice")
        server = f"{hub.url}/user/alice/{COURSE}/"
        nb = _nb("x = 1", "print(x)", "1/0")
        nb["cells"][2]["execution_count"] = 3
        nb["cells"][2]["outputs"] = [
            {
                "output_type": "error",
                "ename": "ZeroDivisionError",
                "evalue": "division by zero",
                "traceback": [],
            }
        ]
        saved = httpx.put(
            f"{server}api/contents/{NOTEBOOK}",
            headers={"Authorization": f"token {token}"},
            json={"type": "notebook", "format": "json", "content": nb},
            timeout=30,
        )
        assert saved.status_code == 200, saved.text
        update = stream.next("update", {"user": "alice", "status": "error"})
        on_disk = hub.home_root / hub.unix_name("alice") / "courses" / COURSE / NOTEBOOK
        assert update["sha256"] == hashlib.sha256(on_disk.read_bytes()).hexdigest()
        assert update["error"] == "ZeroDivisionError"
        last = update["tail"]["cells"][-1]
        assert last["source"] == "1/0"
        assert last["outputs"][0]["text"].startswith("ZeroDivisionError")

        # A cell run in a notebook's kernel is reported as it happens.
        session = httpx.post(
            f"{server}api/sessions",
            headers={"Authorization": f"token {token}"},
            json={
                "path": NOTEBOOK,
                "type": "notebook",
                "name": NOTEBOOK,
                "kernel": {"name": "python3"},
            },
            timeout=60,
        )
        assert session.status_code == 201, session.text
        kernel = session.json()["kernel"]["id"]
        ws_url = server.replace("http", "ws", 1) + f"api/kernels/{kernel}/channels"
        assert asyncio.run(_run_cell(ws_url, token, "y = 2")) == "ok"
        ran = stream.next("update", {"user": "alice", "status": "working"})
        assert ran["ran_at"] and ran["error"] is None
        assert asyncio.run(_run_cell(ws_url, token, "undefined_name")) == "error"
        failed = stream.next("update", {"user": "alice", "status": "error"})
        assert failed["error"] == "NameError"
    finally:
        stream.close()

    # Everything was stored as events too, readable by the course's instructor.
    events = httpx.get(
        f"{hub.url}{SERVICE}/api/events",
        params={"course": COURSE, "user": "alice"},
        headers={"Authorization": f"token {tina_token}"},
    ).json()["events"]
    types = {e["type"] for e in events}
    assert {"notebook_opened", "notebook_saved", "kernel_started", "cell_executed"} <= types
    ran = [e["data"] for e in events if e["type"] == "cell_executed"]
    assert {"status": "error", "error": "NameError"}.items() <= ran[-1].items()


def test_server_token_posts_only_its_own_events(hub: hubproc.RunningHub) -> None:
    alice = login(hub.url, "alice", USERS["alice"])
    _open_notebook(alice, "alice")
    token = _server_token(hub, "alice")
    url = f"{hub.url}{SERVICE}/api/events"
    headers = {"Authorization": f"token {token}"}
    mine = {"type": "notebook_opened", "course": COURSE, "path": NOTEBOOK}
    assert httpx.post(url, json=mine, headers=headers).status_code == 201
    spoofed = httpx.post(url, json={**mine, "user": "bob"}, headers=headers)
    assert spoofed.status_code == 403
    assert "own events" in spoofed.json()["error"]["message"]
    # A server token reads nothing.
    assert httpx.get(url, params={"course": COURSE}, headers=headers).status_code == 403


def test_only_the_course_staff_follow_it(hub: hubproc.RunningHub) -> None:
    stream_url = f"{hub.url}{SERVICE}/course/{COURSE}/live/stream"
    olga = Stream(stream_url, hub.user_token("olga"))  # instructor of another course
    bob = Stream(stream_url, hub.user_token("bob"))  # a student of this one
    olga.close()
    bob.close()
    assert olga.status == 404 and bob.status == 403  # not her course; not his role
    events_url = f"{hub.url}{SERVICE}/api/events"
    olga_reads = httpx.get(
        events_url,
        params={"course": COURSE},
        headers={"Authorization": f"token {hub.user_token('olga')}"},
    )
    assert olga_reads.status_code == 404
    bob_page = login(hub.url, "bob", USERS["bob"]).get(
        f"{SERVICE}/course/{COURSE}/live/nb/{NOTEBOOK}", follow_redirects=True
    )
    assert bob_page.status_code == 403  # a student of the course: refused for his role
    assert "alice" not in bob_page.text


def _xsrf(page: str) -> str:
    found = re.search(r'name="coursehub-xsrf" content="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def test_help_without_subdomains_is_read_only_and_the_view_is_sandboxed(
    hub: hubproc.RunningHub,
) -> None:
    """This site has no per-user subdomains: alice's JupyterLab would run on the hub's
    origin with tina's cookies, so Help shows the sandboxed view and shares nothing
    (tests/security/test_staff_origin.py opens the live lab with subdomains)."""
    alice = login(hub.url, "alice", USERS["alice"])
    _open_notebook(alice, "alice")
    tina = login(hub.url, "tina", USERS["tina"])
    lab = f"/user/alice/{COURSE}/lab/tree/{NOTEBOOK}"
    # Being the course's instructor does not open students' servers by itself...
    before = tina.get(lab, follow_redirects=True)
    assert before.status_code == 403, before.status_code

    view = tina.get(f"{SERVICE}/course/{COURSE}/live/view/alice/{NOTEBOOK}", follow_redirects=True)
    assert view.status_code == 200, view.text[-300:]
    assert re.search(r"<iframe[^>]+sandbox", view.text)
    assert "site.user_subdomains" in view.text  # says why help is read-only here
    rendered = tina.get(f"{SERVICE}/course/{COURSE}/live/render/alice/{NOTEBOOK}")
    assert rendered.status_code == 200
    policy = rendered.headers["content-security-policy"]
    assert policy.startswith("sandbox;") and "script-src" not in policy

    # ...and neither does asking for help: the answer is the read-only view.
    helped = tina.post(
        f"{SERVICE}/course/{COURSE}/live/help/alice/{NOTEBOOK}",
        data={"_xsrf": _xsrf(view.text)},
        headers={"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"},
    )
    assert helped.status_code == 303, helped.text[-300:]
    assert helped.headers["location"].endswith(f"/live/view/alice/{NOTEBOOK}")
    after = tina.get(lab, follow_redirects=True)
    assert after.status_code == 403, after.status_code
