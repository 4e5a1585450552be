"""A student tries to put words in course staff's mouth, or to hand in for someone else,
through the JupyterLab plugin's server side (coursehub/lab) and the service's APIs.

Real hub, real student servers, real accounts; the student uses hub tokens of her own
(as /hub/token gives, or her server's, which she reads in her terminal):

- a notice posted to another student's server, by a made-up id or by the id of a real
  notice written for that student, never reaches that student's page;
- a notice posted to her own server is kept only if the service wrote it for her: a
  made-up id or another student's notice is refused, and the service gives a notice
  only to the student it was written for;
- the staff stop routes refuse her, so the service never writes a "staff stopped"
  notice on her word;
- submitting through another student's server is refused, and whatever she names in
  her own submission, it is hers;
- a listener of hers in place of her server, answering the service's questions (its
  kernels, a stop notice) a byte at a time, neither hangs the staff servers page nor
  keeps her server from being stopped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.assignments import nbgrader_source
from tests.helpers.browserless import login, start_server
from tests.helpers.gitrepo import EMPTY_NOTEBOOK
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {
    "nina": "nina-pass-123",
    "omar": "omar-pass-456",
    "petra": "petra-pass-246",
    "ivan": "ivan-pass-789",
}
STAFF = {"ivan": "instructor"}
COURSE = "algebra"
SERVICE = "/services/coursehub"
MADE_UP = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> hubproc.RunningHub:
    repo = make_course_repo({"lab1.ipynb": EMPTY_NOTEBOOK})
    source = nbgrader_source(tmp_path_factory.mktemp("ps1") / "ps1")
    running = start_hub(
        "lab-attacks",
        outside_tmp=True,
        users=USERS,
        roles=STAFF,
        courses={COURSE: hubproc.Course(repo, ("nina", "omar", "petra"), STAFF)},
        then=[
            ("assignment", "create", COURSE, "ps1", "--from", str(source)),
            ("assignment", "release", COURSE, "ps1"),
        ],
    )
    for name in ("nina", "omar"):
        client = login(running.url, name, USERS[name])
        events = start_server(client, name, server=COURSE)
        assert events and events[-1].get("ready"), f"{events}\n{running.log_tail()}"
    login(running.url, "ivan", USERS["ivan"])
    return running


def _server(hub: hubproc.RunningHub, name: str) -> str:
    return f"{hub.url}/user/{name}/{COURSE}/"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def _notices(hub: hubproc.RunningHub, name: str) -> list[dict]:
    """Every notice `name`'s server holds, as `name`'s page would get them."""
    got = httpx.get(
        f"{_server(hub, name)}coursehub/lab/notices?after=0&epoch=-&wait=0",
        headers=_auth(hub.user_token(name)),
        timeout=60,
    )
    assert got.status_code == 200, got.text
    return got.json()["notices"]


def _post_notice(hub: hubproc.RunningHub, name: str, token: str, notice_id: str) -> int:
    return httpx.post(
        f"{_server(hub, name)}coursehub/lab/notices",
        headers=_auth(token),
        json={"id": notice_id},
        timeout=60,
    ).status_code


def _staff_stops_a_kernel_of(hub: hubproc.RunningHub, name: str) -> str:
    """A kernel of `name`'s, stopped by ivan from the servers page; the notice's id."""
    made = httpx.post(
        f"{_server(hub, name)}api/kernels",
        headers=_auth(hub.user_token(name)),
        json={"name": "python3"},
        timeout=60,
    )
    assert made.status_code == 201, made.text
    kernel = made.json()["id"]
    ivan = login(hub.url, "ivan", USERS["ivan"])
    url = f"{SERVICE}/course/{COURSE}/staff/servers"
    deadline = time.monotonic() + 60
    while kernel not in (page := ivan.get(url, follow_redirects=True).text):
        assert time.monotonic() < deadline, page[-2000:]
        time.sleep(0.5)
    xsrf = re.search(r'name="coursehub-xsrf" content="([^"]+)"', page)
    assert xsrf
    stopped = ivan.post(f"{url}/{name}/kernels/{kernel}/stop", data={"_xsrf": xsrf[1]})
    assert stopped.status_code == 303, stopped.text
    (notice,) = [n for n in _notices(hub, name) if n["kind"] == "kernel"][-1:]
    assert notice["by"] == "ivan"
    return notice["id"]


def test_a_student_cannot_post_a_notice_to_another_students_server(
    hub: hubproc.RunningHub,
) -> None:
    nina = hub.user_token("nina")
    before = _notices(hub, "omar")
    real = _staff_stops_a_kernel_of(hub, "omar")
    shown = _notices(hub, "omar")
    assert len(shown) == len(before) + 1
    # her token does not open omar's server, whatever she posts there
    for notice_id in (MADE_UP, real):
        assert _post_notice(hub, "omar", nina, notice_id) == 403
    assert _notices(hub, "omar") == shown


def test_a_student_cannot_forge_a_staff_notice(hub: hubproc.RunningHub) -> None:
    nina = hub.user_token("nina")
    omars = _staff_stops_a_kernel_of(hub, "omar")
    # in her own server: a made-up id, and the id of a real notice written for omar
    assert _post_notice(hub, "nina", nina, MADE_UP) == 403
    assert _post_notice(hub, "nina", nina, omars) == 403
    # her server cannot be made to ask the service for anything but a notice id
    assert _post_notice(hub, "nina", nina, "../../api/courses") == 400
    assert _notices(hub, "nina") == []
    # the service gives omar's notice to nobody else
    for course in (COURSE, "other"):
        asked = httpx.get(
            f"{hub.url}{SERVICE}/api/lab/notices/{omars}?course={course}",
            headers=_auth(nina),
        )
        assert asked.status_code == 404, asked.text
    # and the staff stop routes refuse her: no notice is written on her word
    client = login(hub.url, "nina", USERS["nina"])
    page = client.get(f"{SERVICE}/course/{COURSE}", follow_redirects=True).text
    xsrf = re.search(r'name="coursehub-xsrf" content="([^"]+)"', page)
    assert xsrf
    base = f"{SERVICE}/course/{COURSE}/staff/servers"
    for url in (f"{base}/omar/stop", f"{base}/nina/stop", f"{base}/omar/kernels/k1/stop"):
        refused = client.post(url, data={"_xsrf": xsrf[1]})
        assert refused.status_code == 403, (url, refused.text)
        assert client.get(url, follow_redirects=True).status_code == 403
    assert _notices(hub, "nina") == []
    omar = httpx.get(f"{hub.url}/hub/api/users/omar", headers=_auth(hub.user_token("omar")))
    assert omar.json()["servers"][COURSE]["ready"]


def test_a_student_cannot_submit_for_another_student(hub: hubproc.RunningHub) -> None:
    nina, omar = hub.user_token("nina"), hub.user_token("omar")
    for name in ("nina", "omar"):
        fetched = httpx.post(
            f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments/ps1/fetch",
            headers=_auth(hub.user_token(name)),
            timeout=60,
        )
        assert fetched.status_code == 200, fetched.text
    key = {"Idempotency-Key": "attack-0001"}
    # through omar's server: refused by his server
    through = httpx.post(
        f"{_server(hub, 'omar')}coursehub/lab/submit",
        headers={**_auth(nina), **key},
        json={"assignment": "ps1"},
        timeout=60,
    )
    assert through.status_code == 403
    # through her own, naming omar every way she can: it is her submission
    mine = httpx.post(
        f"{_server(hub, 'nina')}coursehub/lab/submit?username=omar&user=omar",
        headers={**_auth(nina), **key, "X-Forwarded-User": "omar"},
        json={"assignment": "ps1", "username": "omar", "user": "omar", "student": "omar"},
        timeout=60,
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()["attempt"] == 1
    # an assignment name that is a path is refused by her server
    odd = httpx.post(
        f"{_server(hub, 'nina')}coursehub/lab/submit",
        headers={**_auth(nina), "Idempotency-Key": "attack-0002"},
        json={"assignment": "../../courses/algebra/assignments/ps1"},
        timeout=60,
    )
    assert odd.status_code == 400
    listing = f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments/ps1/submissions"
    assert [a["attempt"] for a in httpx.get(listing, headers=_auth(nina)).json()["attempts"]] == [1]
    assert httpx.get(listing, headers=_auth(omar)).json()["attempts"] == []


# A listener of the student's in place of her server (she owns its process and port):
# every answer it gives the service starts, then comes a byte every second, forever.
DRIP = r"""
import os, signal, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

port = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"]).port
time.sleep(1)  # the kernel's answer reaches the test first
os.kill(int(os.environ["JPY_PARENT_PID"]), signal.SIGKILL)

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _drip(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(10**12))
        self.end_headers()
        self.wfile.write(b"[")
        while True:
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(1)
    do_GET = do_POST = do_DELETE = _drip
    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

deadline = time.monotonic() + 10
while True:
    try:
        httpd = Server(("127.0.0.1", port), Handler)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.01)
httpd.timeout = 1
end = time.monotonic() + 300
while time.monotonic() < end:
    httpd.handle_request()
"""

LAUNCH_DRIP = """
import os, subprocess, sys
script = os.path.expanduser("~/drip.py")
with open(script, "w") as f:
    f.write({drip!r})
subprocess.Popen([sys.executable, script], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("launched")
"""


def test_a_student_answering_byte_by_byte_neither_hangs_the_servers_page_nor_her_stop(
    hub: hubproc.RunningHub,
) -> None:
    # a fresh server: the hub looks whether it still runs only half a minute later, so
    # meanwhile the hub lists it and the service asks the listener in its place
    events = start_server(login(hub.url, "petra", USERS["petra"]), "petra", server=COURSE)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    petra = hub.user_token("petra")
    out = run_code(_server(hub, "petra"), petra, LAUNCH_DRIP.format(drip=DRIP))
    assert "launched" in out["stdout"], out
    time.sleep(2)  # her server is gone; the listener answers in its place
    ivan = login(hub.url, "ivan", USERS["ivan"])
    servers = f"{SERVICE}/course/{COURSE}/staff/servers"
    # the page answers, listing her server, while her listener is still dripping
    page = ivan.get(servers, follow_redirects=True, timeout=45)
    assert page.status_code == 200, page.text[-2000:]
    assert "petra" in page.text
    xsrf = re.search(r'name="coursehub-xsrf" content="([^"]+)"', page.text)
    assert xsrf
    # stopping her server ends too (the hub may have found it gone meanwhile), and
    # the server is stopped
    stopped = ivan.post(f"{servers}/petra/stop", data={"_xsrf": xsrf[1]}, timeout=60)
    assert stopped.status_code == 303 or "not running" in stopped.text, stopped.text[-2000:]
    model = httpx.get(f"{hub.url}/hub/api/users/petra", headers=_auth(petra), timeout=30)
    assert COURSE not in (model.json().get("servers") or {}), model.text
