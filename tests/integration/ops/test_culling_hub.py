"""Idle culling with per-course policies and runaway kernels, on one real hub.

One course ("quick") stops servers idle 10 s, another ("long") keeps them an hour
and has no maximum age; the site stops any server after 60 s. A student's busy
server (a kernel spinning, its activity reported to the hub as jupyterhub-singleuser
does) outlives the idle timeout and is stopped at its maximum age; the staff servers
page shows the spinning kernel as runaway and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import websockets

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.gitrepo import EMPTY_NOTEBOOK
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456", "ines": "ines-pass-789"}
SERVICE = "/services/coursehub"
IDLE = """timeout: 0
max_age: 60s
check_every: 1s
runaway_after: 2s
courses:
  quick: {timeout: 10s}
  long: {timeout: 1h, max_age: 0}
"""


def _wait(what: str, check: Callable[[], object], hub: hubproc.RunningHub, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{hub.log_tail(80)}")


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo({"intro.ipynb": EMPTY_NOTEBOOK, "course.yaml": "title: Culling\n"})
    staff = {"ines": "instructor"}
    return start_hub(
        "culling-site",
        users=USERS,
        roles=staff,
        idle_yaml=IDLE,
        extra_yaml="stats:\n  sample_every: 1s\n",
        courses={
            "quick": hubproc.Course(repo, ("alice", "bob"), staff),
            "long": hubproc.Course(repo, ("alice",), staff),
        },
    )


def _running(hub: hubproc.RunningHub, user: str) -> set[str]:
    cli_token = (hub.data_dir / "secrets" / "cli_token").read_text().strip()
    response = httpx.get(
        f"{hub.url}/hub/api/users/{user}", headers={"Authorization": f"token {cli_token}"}
    )
    response.raise_for_status()
    return {name for name, s in response.json().get("servers", {}).items() if s.get("ready")}


def _report_activity(hub: hubproc.RunningHub, user: str, token: str, server: str) -> None:
    # what jupyterhub-singleuser does for a server in use
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    httpx.post(
        f"{hub.url}/hub/api/users/{user}/activity",
        headers={"Authorization": f"token {token}"},
        json={"last_activity": now, "servers": {server: {"last_activity": now}}},
    ).raise_for_status()


def _keep_active(hub: hubproc.RunningHub, user: str, token: str, server: str) -> threading.Event:
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(1):
            # once the server is gone (culled at max age) there is nothing to report
            with contextlib.suppress(httpx.HTTPError):
                _report_activity(hub, user, token, server)

    threading.Thread(target=loop, daemon=True).start()
    return stop


def _start_spinning_kernel(server_url: str, token: str) -> str:
    """A kernel left running `while True: pass` (the websocket is closed, the cell runs)."""
    headers = {"Authorization": f"token {token}"}
    response = httpx.post(f"{server_url}api/kernels", json={"name": "python3"}, headers=headers)
    response.raise_for_status()
    kernel_id = response.json()["id"]
    ws_url = server_url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels"
    request = {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": "while True: pass", "silent": False, "store_history": False},
        "channel": "shell",
    }

    async def send() -> None:
        async with websockets.connect(ws_url, additional_headers=headers) as ws:
            await ws.send(json.dumps(request))
            async with asyncio.timeout(60):
                while True:  # until the kernel says it is busy with our cell
                    msg = json.loads(await ws.recv())
                    if msg.get("msg_type") == "status" and (
                        msg["content"]["execution_state"] == "busy"
                        and msg["parent_header"].get("msg_id") == request["header"]["msg_id"]
                    ):
                        return

    asyncio.run(send())
    return kernel_id


def _xsrf(page: str) -> str:
    found = re.search(r'name="coursehub-xsrf" content="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_idle_busy_and_runaway_servers(hub: hubproc.RunningHub) -> None:
    alice = login(hub.url, "alice", USERS["alice"])
    alice_token = hub.user_token("alice")
    for course in ("long", "quick"):  # long first: it has been idle longer
        events = start_server(alice, "alice", server=course)
        assert events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    _report_activity(hub, "alice", alice_token, "quick")
    out = run_code(
        f"{hub.url}/user/alice/quick/",
        alice_token,
        "open('notes.txt', 'w').write('my work'); print('saved')",
    )
    assert out["stdout"].strip() == "saved", out

    bob = login(hub.url, "bob", USERS["bob"])
    bob_token = hub.user_token("bob")
    events = start_server(bob, "bob", server="quick")
    assert events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    keep_bob = _keep_active(hub, "bob", bob_token, "quick")
    try:
        spinning = _start_spinning_kernel(f"{hub.url}/user/bob/quick/", bob_token)

        # alice's idle quick server is stopped; her long one (1 h) and bob's busy one stay
        _wait("alice's idle server culled", lambda: "quick" not in _running(hub, "alice"), hub)
        assert _running(hub, "alice") == {"long"}
        assert _running(hub, "bob") == {"quick"}
        notes = hub.home_root / hub.unix_name("alice") / "courses" / "quick" / "notes.txt"
        assert notes.read_text() == "my work"  # files are never touched
        assert re.search(r"stopping server alice/quick: idle for", hub.log.read_text())

        # the staff page shows bob's spinning kernel as runaway and stops it
        ines = login(hub.url, "ines", USERS["ines"])
        url = f"{SERVICE}/course/quick/staff/servers"

        def runaway_page() -> str | None:
            page = ines.get(url, follow_redirects=True)
            assert page.status_code == 200, page.text[-500:]
            row = page.text.split('data-user="bob"', 1)[-1].split("</tr>", 1)[0]
            return page.text if spinning in row and "runaway" in row else None

        page = _wait("bob's kernel reported runaway", runaway_page, hub)
        stopped = ines.post(f"{url}/bob/kernels/{spinning}/stop", data={"_xsrf": _xsrf(page)})
        assert stopped.status_code == 303, stopped.text
        kernels = f"{hub.url}/user/bob/quick/api/kernels"
        auth = {"Authorization": f"token {bob_token}"}
        _wait(
            "the runaway kernel stopped",
            lambda: spinning not in {k["id"] for k in httpx.get(kernels, headers=auth).json()},
            hub,
        )
        # a student's own token cannot reach the staff page
        assert bob.get(url, follow_redirects=True).status_code == 403

        # staff stop alice's long server from the page: stopped, workspace kept
        page = ines.get(f"{SERVICE}/course/long/staff/servers", follow_redirects=True)
        assert 'data-user="alice"' in page.text
        stopped = ines.post(
            f"{SERVICE}/course/long/staff/servers/alice/stop", data={"_xsrf": _xsrf(page.text)}
        )
        assert stopped.status_code == 303, stopped.text
        _wait("alice's long server stopped", lambda: not _running(hub, "alice"), hub)
        assert (hub.home_root / hub.unix_name("alice") / "courses" / "long").is_dir()

        # bob's server, active all along, is stopped at its maximum age, not before
        _wait("bob's server stopped at max age", lambda: not _running(hub, "bob"), hub, 150)
        log = hub.log.read_text()
        assert re.search(r"stopping server bob/quick: older than 1m00s", log), log[-3000:]
        assert not re.search(r"stopping server bob/quick: idle", log)
    finally:
        keep_bob.set()
