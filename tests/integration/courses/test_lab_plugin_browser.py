"""coursehub's JupyterLab plugin in real browsers, on a real hub with per-user subdomains:
a staff member stops a student's kernel and then their server (each asked first), and
the student's open JupyterLab says who stopped it and that their files are kept (an
unsaved edit is saved before the server stops); a staff member opens a student's
server to help without JupyterHub's "Authorize access" page and sees whose server it
is; the servers page names each kernel's notebook and age, and a kernel nobody
connected to is not left "starting"; a student submits from the Course menu and sees
the attempt, and the terminal command of docs/students.md submits too.

Autosave is off on this site, so that what is on disk after a stop was saved by the
plugin, not by JupyterLab's timer.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.assignments import nbgrader_source
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.browserless import login
from tests.helpers.terminal import run_in_terminal

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"nina": "nina-pass-123", "omar": "omar-pass-456", "ivan": "ivan-pass-789"}
STAFF = {"ivan": "instructor"}
COURSE = "algebra"
SERVICE = "/services/coursehub"
DOCS = Path(__file__).parents[3] / "docs" / "students.md"


def _notebook(source: str) -> str:
    cell = {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}}
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    cells = [{**cell, "outputs": [], "source": source}]
    return json.dumps({"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> hubproc.RunningHub:
    if not CHROMIUM or not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    repo = make_course_repo({"lab1.ipynb": _notebook("x = 1"), "course.yaml": "title: Algebra\n"})
    source = nbgrader_source(tmp_path_factory.mktemp("ps1") / "ps1")
    running = start_hub(
        "lab-plugin",
        outside_tmp=True,  # submissions are graded in a sandbox with a /tmp of its own
        users=USERS,
        roles=STAFF,
        public_host="localhost",  # Chromium resolves <user>.localhost to loopback
        site_yaml="user_subdomains: true\n",
        extra_yaml="events:\n  autosave: 0\n",
        courses={COURSE: hubproc.Course(repo, ("nina", "omar"), STAFF)},
        then=[
            ("assignment", "create", COURSE, "ps1", "--from", str(source)),
            ("assignment", "release", COURSE, "ps1"),
        ],
    )
    for name, password in USERS.items():  # hub users exist from their first sign-in
        login(running.url, name, password)
    return running


def _sign_in(page: Any, url: str, name: str) -> None:
    page.goto(url)
    page.fill("#username_input", name)
    page.fill("#password_input", USERS[name])
    page.click("#login_submit")


def _open_lab(page: Any, hub: hubproc.RunningHub, name: str, path: str = "lab1.ipynb") -> None:
    """As `name`: the course notebook's link, until its kernel is idle in JupyterLab."""
    _sign_in(page, f"{hub.url}{SERVICE}/open/{COURSE}/{path}", name)
    page.wait_for_url(f"**/user/{name}/{COURSE}/lab/**", timeout=180_000, wait_until="commit")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    _wait_idle(page)


def _wait_idle(page: Any) -> None:
    status = page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle"))
    status.first.wait_for(timeout=120_000)


def _toast(page: Any, text: str, timeout: float = 60_000) -> str:
    toast = page.locator(".Toastify__toast", has_text=text).first
    toast.wait_for(timeout=timeout)
    return " ".join(toast.inner_text().split())


@contextlib.contextmanager
def _shots(prefix: str, **pages: Any) -> Iterator[None]:
    """Screenshots of `pages` when the block fails, for the person reading the failure."""
    try:
        yield
    except Exception:
        for name, page in pages.items():
            with contextlib.suppress(Exception):
                page.screenshot(path=str(SHOTS / f"{prefix}-failed-{name}.png"), timeout=5000)
        raise


def _servers_page(page: Any, hub: hubproc.RunningHub) -> None:
    page.goto(f"{hub.url}{SERVICE}/course/{COURSE}/staff/servers")
    page.wait_for_selector("#servers", timeout=60_000)


def test_staff_stop_a_kernel_after_a_question_and_the_student_is_told(
    hub: hubproc.RunningHub,
) -> None:
    with chromium() as browser:
        student = browser.new_context(viewport={"width": 1280, "height": 850}).new_page()
        staff = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        with _shots("lab-kernel-stop", student=student, staff=staff):
            _open_lab(student, hub, "nina")
            _sign_in(staff, f"{hub.url}{SERVICE}/course/{COURSE}/staff/servers", "ivan")
            row = staff.locator("tr[data-user=nina]")
            row.wait_for(timeout=60_000)
            # each kernel with its notebook and age
            kernel = row.locator("li[data-kernel]").first
            assert re.search(
                r"lab1\.ipynb · python3: idle\s+· started \d+s ago", kernel.inner_text()
            )
            staff.screenshot(path=str(SHOTS / "lab-servers-page.png"), full_page=True)
            kernel.get_by_role("link", name="Stop…").click()
            # a question first: nothing is stopped yet
            question = staff.locator("#confirm-stop")
            question.wait_for()
            assert "Stop nina's kernel?" in staff.inner_text("h1")
            assert "lab1.ipynb" in question.inner_text()
            assert "you (ivan) stopped the kernel" in " ".join(question.inner_text().split())
            staff.screenshot(path=str(SHOTS / "lab-stop-kernel-question.png"))
            assert "Idle" in student.inner_text(".jp-StatusBar-Widget")
            question.get_by_role("button", name="Stop the kernel").click()
            assert "The kernel was stopped." in staff.inner_text("#done")
            # the student's page says who stopped it, and that the notebook is kept
            told = _toast(student, "Course staff (ivan) stopped the kernel of lab1.ipynb")
            assert "Your notebook is kept" in told and re.search(r"at \d\d:\d\d", told), told
            student.screenshot(path=str(SHOTS / "lab-kernel-stopped.png"))
            assert _kernels(hub, "nina") == []
            # ...and starts a new one when asked
            toast = student.locator(".Toastify__toast", has_text="stopped the kernel")
            toast.get_by_role("button", name="Start a new kernel").click()
            deadline = time.monotonic() + 60
            while not _kernels(hub, "nina"):
                assert time.monotonic() < deadline, "no new kernel"
                time.sleep(0.5)
            _wait_idle(student)


def _start(hub: hubproc.RunningHub, name: str) -> None:
    """`name`'s course server, started through the hub's API if it is not running."""
    auth = {"Authorization": f"token {hub.user_token(name)}"}
    api = f"{hub.url}/hub/api/users/{name}"
    httpx.post(f"{api}/servers/{COURSE}", headers=auth, timeout=60)  # 400: running
    deadline = time.monotonic() + 180
    while not (httpx.get(api, headers=auth).json()["servers"].get(COURSE) or {}).get("ready"):
        assert time.monotonic() < deadline, hub.log_tail()
        time.sleep(0.5)


def _kernels(hub: hubproc.RunningHub, name: str) -> list[str]:
    """The ids of the kernels of `name`'s course server, asked as `name`."""
    port = httpx.URL(hub.url).port
    response = httpx.get(
        f"http://127.0.0.1:{port}/user/{name}/{COURSE}/api/kernels",
        headers={
            "Authorization": f"token {hub.user_token(name)}",
            "Host": f"{name}.localhost:{port}",
        },
    )
    response.raise_for_status()
    return [k["id"] for k in response.json()]


def test_staff_stop_a_server_after_a_question_and_its_page_saves_first(
    hub: hubproc.RunningHub,
) -> None:
    notebook = hub.home_root / hub.unix_name("nina") / "courses" / COURSE / "lab1.ipynb"
    with chromium() as browser:
        student = browser.new_context(viewport={"width": 1280, "height": 850}).new_page()
        staff = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        with _shots("lab-server-stop", student=student, staff=staff):
            _open_lab(student, hub, "nina")
            # an edit nobody saved (autosave is off here)
            student.click(".jp-Notebook .jp-CodeCell .cm-content")
            student.keyboard.press("End")
            student.keyboard.type("  # unsaved-edit")
            assert "unsaved-edit" not in notebook.read_text()
            _sign_in(staff, f"{hub.url}{SERVICE}/course/{COURSE}/staff/servers", "ivan")
            staff.locator("tr[data-user=nina]").get_by_role("link", name="Stop server…").click()
            question = staff.locator("#confirm-stop")
            question.wait_for()
            assert "Stop nina's server?" in staff.inner_text("h1")
            assert "saves their open notebooks first" in " ".join(question.inner_text().split())
            question.get_by_role("button", name="Stop the server").click()
            assert "The server was stopped" in staff.inner_text("#done")
            dialog = student.locator(".jp-Dialog")
            dialog.wait_for(timeout=30_000)
            text = " ".join(dialog.inner_text().split())
            student.screenshot(path=str(SHOTS / "lab-server-stopped.png"))
            # reloaded: the hub's page says the same
            dialog.get_by_role("button", name="Reload the page").click()
            frame = student.locator("#coursehub-stopped")
            frame.wait_for(timeout=60_000)
            said = student.frame_locator("#coursehub-stopped").locator("#stopped-notice")
            hub_page = " ".join(said.inner_text(timeout=30_000).split())
            student.screenshot(path=str(SHOTS / "lab-server-not-running.png"))
        assert "Server not running" in student.inner_text("h1")
        assert hub_page.startswith("Course staff (ivan) stopped your algebra server at"), hub_page
        assert "Your files are kept" in hub_page
        assert text.startswith("Your server was stopped"), text
        assert "Course staff (ivan) stopped your algebra server at" in text
        assert "Your files are kept" in text and "Reload the page" in text
        # the edit was saved before the server stopped
        assert "unsaved-edit" in notebook.read_text()
        user = httpx.get(
            f"{_hub_api(hub)}/users/nina",
            headers={"Authorization": f"token {_cli_token(hub)}"},
        ).json()
        assert COURSE not in (user.get("servers") or {})


def _hub_api(hub: hubproc.RunningHub) -> str:
    port = json.loads((hub.data_dir / "runtime" / "ports.json").read_text())["hub"]
    return f"http://127.0.0.1:{port}/hub/api"


def _cli_token(hub: hubproc.RunningHub) -> str:
    return (hub.data_dir / "secrets" / "cli_token").read_text().strip()


def test_staff_open_a_students_server_to_help_without_the_consent_page_and_see_whose(
    hub: hubproc.RunningHub,
) -> None:
    with chromium() as browser:
        student = browser.new_context(viewport={"width": 1280, "height": 850}).new_page()
        _open_lab(student, hub, "omar")
        context = browser.new_context(viewport={"width": 1280, "height": 850})
        staff = context.new_page()
        with _shots("lab-help", student=student, staff=staff):
            _sign_in(staff, f"{hub.url}{SERVICE}/course/{COURSE}/live/nb/lab1.ipynb", "ivan")
            card = staff.locator("article.live-card[data-user='omar']")
            card.wait_for(timeout=60_000)
            visited: list[str] = []
            context.on("request", lambda r: visited.append(r.url))
            with context.expect_page(timeout=60_000) as opened:
                card.locator("footer").get_by_text(re.compile("help", re.I)).first.click()
            helped = opened.value
            banner = helped.locator("#coursehub-owner-banner")
            banner.wait_for(timeout=120_000)
            helped.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
            helped.screenshot(path=str(SHOTS / "lab-help-banner.png"))
            assert httpx.URL(helped.url).host == "omar.localhost", helped.url
            text = banner.inner_text()
            assert text.startswith("You are in omar's server for algebra (as course staff)"), text
            # JupyterHub's OAuth ran, and its question was never shown
            assert any("/oauth2/authorize" in url for url in visited), visited
            assert helped.locator("text=Authorize access").count() == 0
        # the owner's own JupyterLab names nobody
        assert student.locator("#coursehub-owner-banner").count() == 0


def test_a_kernel_nobody_connected_to_is_not_left_starting(hub: hubproc.RunningHub) -> None:
    """A session started through the REST API (as a page that closed before its
    websocket connected): the servers page shows the kernel idle, with its notebook."""
    _start(hub, "omar")
    port = httpx.URL(hub.url).port
    server = f"http://127.0.0.1:{port}/user/omar/{COURSE}/"
    headers = {"Authorization": f"token {hub.user_token('omar')}", "Host": f"omar.localhost:{port}"}
    body = {"path": "scratch.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    made = httpx.post(f"{server}api/sessions", headers=headers, json=body, timeout=120)
    assert made.status_code == 201, made.text
    kernel = made.json()["kernel"]["id"]
    deadline = time.monotonic() + 30
    while True:
        state = httpx.get(f"{server}api/kernels/{kernel}", headers=headers).json()
        if state["execution_state"] == "idle":
            break
        assert time.monotonic() < deadline, state  # before: "starting" until a cell ran
        time.sleep(0.5)
    ivan = login(hub.url, "ivan", USERS["ivan"])
    page = ivan.get(f"{SERVICE}/course/{COURSE}/staff/servers", follow_redirects=True).text
    item = re.search(rf'data-kernel="{kernel}">(.*?)</li>', page, re.S)
    assert item, page[-3000:]
    assert re.search(r"scratch\.ipynb</span>\s*· python3: idle", item[1]), item[1]


def test_a_student_submits_from_the_course_menu_and_sees_the_attempt(
    hub: hubproc.RunningHub,
) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 850})
        student = context.new_page()
        with _shots("lab-submit", student=student):
            _open_lab(student, hub, "omar")
            # a notebook outside any assignment: said so, nothing submitted
            student.click(".lm-MenuBar-itemLabel:text-is('Course')")
            student.click(".lm-Menu-itemLabel:text-is('Submit this assignment')")
            said = _toast(student, "not part of an assignment")
            assert said.startswith("lab1.ipynb is not part of an assignment"), said
            # the assignment's notebook, from its page's Get button
            student.goto(f"{hub.url}{SERVICE}/course/{COURSE}/assignments/ps1")
            student.click("#get")
            student.wait_for_url(
                f"**/user/omar/{COURSE}/lab/tree/assignments/ps1/ps1.ipynb",
                timeout=180_000,
                wait_until="commit",
            )
            student.wait_for_selector("h1:has-text('Problem set 1')", timeout=120_000)
            student.click(".lm-MenuBar-itemLabel:text-is('Course')")
            student.screenshot(path=str(SHOTS / "lab-course-menu.png"))
            student.click(".lm-Menu-itemLabel:text-is('Submit this assignment')")
            done = _toast(student, "Submitted ps1")
            student.screenshot(path=str(SHOTS / "lab-submitted.png"))
            assert re.match(r"Submitted ps1: attempt 1, received at \d\d:\d\d", done), done
            assert "It will be graded in a moment." in done
            # an answer typed and not saved, then Submit from the command palette: the
            # notebook is saved first, and that is the second attempt
            student.locator(".jp-CodeCell .cm-content", has_text="def square").click()
            student.keyboard.press("Control+End")
            student.keyboard.type("  # typed-in-lab")
            student.keyboard.press("Escape")
            student.keyboard.press("Control+Shift+C")
            student.fill(".lm-CommandPalette-input", "Submit this assignment")
            student.keyboard.press("Enter")
            again = _toast(student, "attempt 2")
            assert again.startswith("Submitted ps1: attempt 2"), again
            with context.expect_page() as opened:
                student.locator(".Toastify__toast", has_text="attempt 2").get_by_role(
                    "button", name="See the assignment page"
                ).click()
            page = opened.value
            page.wait_for_load_state()
            assert page.url.endswith(f"{SERVICE}/course/{COURSE}/assignments/ps1"), page.url
            assert "Attempt 2" in page.inner_text("main")
    work = hub.home_root / hub.unix_name("omar") / "courses" / COURSE / "assignments" / "ps1"
    assert "typed-in-lab" in (work / "ps1.ipynb").read_text()
    mine = httpx.get(
        f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments/ps1/submissions",
        headers={"Authorization": f"token {hub.user_token('omar')}"},
    ).json()
    assert [a["attempt"] for a in mine["attempts"]] == [1, 2]


def _documented_command() -> str:
    """The terminal command of docs/students.md, for assignment ps1."""
    text = DOCS.read_text()
    block = re.search(r"from a terminal in your course server.*?```sh\n(.*?)```", text, re.S)
    assert block, "docs/students.md has no terminal command to submit"
    return block[1].replace("\\\n", " ").strip().replace("NAME", "ps1")


def test_the_terminal_command_of_the_students_guide_submits(hub: hubproc.RunningHub) -> None:
    token = hub.user_token("omar")
    fetched = httpx.post(
        f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments/ps1/fetch",
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    assert fetched.status_code == 200, fetched.text
    _start(hub, "omar")
    before = httpx.get(
        f"{hub.url}{SERVICE}/api/courses/{COURSE}/assignments/ps1/submissions",
        headers={"Authorization": f"token {token}"},
    ).json()["attempts"]
    port = httpx.URL(hub.url).port
    # an edit, so that this is a new attempt
    work = hub.home_root / hub.unix_name("omar") / "courses" / COURSE / "assignments" / "ps1"
    server = f"http://omar.localhost:{port}/user/omar/{COURSE}/"
    out = run_in_terminal(
        server,
        token,
        f"echo '# from the terminal' >> {work}/notes.txt && {_documented_command()}",
        proxy=f"127.0.0.1:{port}",
    )
    answer = json.loads(out[out.rindex('{"id"') :].split("\n")[0])
    assert answer["attempt"] == len(before) + 1 and answer["duplicate"] is False, out
    assert "notes.txt" in answer["files"], answer
