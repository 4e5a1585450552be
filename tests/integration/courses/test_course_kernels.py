"""Kernels in a course server: the course environment answers for `python3` and every
Python kernel name its notebooks use, forked from the course's kernel template; the
repository's `modules/` (and course.yaml's `kernels.python_path`) are importable from
the read-only checkout; a notebook in a language the course has no kernel for says so
on its link's page before any server starts.

Real hub, proxy, course servers, course environments (built with pip from the local
package index, about 30 s each) and kernel templates.

The "mooc" course copies the layout of an nbhosting course, flotpython/course at commit
1d5c2a6fed78dca8bd294e0ca4e243991f2e6f47: MyST Markdown notebooks per week (w2/…md)
whose header names the `python3` kernel and whose exercises do
`from corrections.regexp_pythonid import exo_pythonid`, the package living in the
repository's `modules/corrections/` (nbhosting puts `modules/` on the kernel's
PYTHONPATH). The helper code here is ours, not the course's. The "demo" course is
`coursehub init`'s own, whose basics/02-data.ipynb imports `tabulate` from the course
environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.kernels import template_socket
from coursehub.ops.init_site import DEMO_FILES
from coursehub.student.kernel_provisioner import template_status
from tests.helpers import hubproc
from tests.helpers.browser import CHROMIUM, SHOTS, chromium
from tests.helpers.browserless import login, start_server
from tests.helpers.kernel import code_cells, run_code, run_notebook

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456", "carol": "carol-pass-789"}
MOOC = "mooc"
DEMO = "demo"
PROBE = "import os, sys, json; print(json.dumps([os.getppid(), sys.prefix, os.getcwd(), sys.path]))"


def notebook(kernelspec: dict[str, str], *cells: str) -> str:
    language = kernelspec.get("language", "")
    return json.dumps(
        {
            "cells": [
                {"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "id": f"c{i}",
                 "execution_count": None}
                for i, c in enumerate(cells)
            ],
            "metadata": {"kernelspec": kernelspec, "language_info": {"name": language}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )  # fmt: skip


MYST_EXERCISE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
language_info:
  name: python
nbhosting:
  title: Exos regexps
---

# Regular expressions

```{code-cell} ipython3
from corrections.regexp_pythonid import exo_pythonid
exo_pythonid.example()
```

```{code-cell} ipython3
regexp_pythonid = r"[a-zA-Z_]\\w*\\Z"
```

```{code-cell} ipython3
exo_pythonid.correction(regexp_pythonid)
```
"""

CORRECTION = """import re


class Exercise:
    inputs = ["foo", "_bar", "2x", "a-b"]

    def example(self):
        print("identifiers:", [s for s in self.inputs if s.isidentifier()])

    def correction(self, regexp):
        ok = all(bool(re.match(regexp, s)) == s.isidentifier() for s in self.inputs)
        print("correct" if ok else "wrong")


exo_pythonid = Exercise()
"""

MOOC_FILES = {
    "course.yaml": "title: Python MOOC\nkernels:\n  python_path: [lib]\n",
    "requirements.txt": "tabulate\n",
    "w1/tables.ipynb": notebook(
        {"name": "python3", "display_name": "Python 3", "language": "python"},
        "from tabulate import tabulate\nprint(tabulate([['a', 1]], tablefmt='plain'))",
        "from course_helpers import greet\nprint(greet())",
    ),
    "w2/w2-s2-x1-expressions-regulieres.md": MYST_EXERCISE,
    "w3/old.ipynb": notebook(
        {
            "name": "conda-env-mooc-py",
            "display_name": "Python [conda env:mooc]",
            "language": "python",
        },
        "print(1)",
    ),  # fmt: skip
    "r/intro.ipynb": notebook({"name": "ir", "display_name": "R", "language": "R"}, "1 + 1"),
    # metadata is the instructor's text: shown escaped on the notice
    "r/hostile.ipynb": notebook(
        {"name": "x", "display_name": "<script>alert(1)</script>", "language": "<b>R</b>"}, "1"
    ),
    "modules/corrections/__init__.py": "",
    "modules/corrections/regexp_pythonid.py": CORRECTION,
    "lib/course_helpers.py": "def greet():\n    return 'hello from lib'\n",
}


def demo_files() -> dict[str, str]:
    source = resources.files("coursehub.starter").joinpath("demo_course")
    return {target: source.joinpath(name).read_text() for target, name in DEMO_FILES.items()}


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    students = ("alice", "bob", "carol")
    return start_hub(
        "kernels-site",
        users=USERS,
        courses={
            MOOC: hubproc.Course(make_course_repo(MOOC_FILES), students),
            DEMO: hubproc.Course(make_course_repo(demo_files()), students),
        },
        then=[("course", "build", MOOC), ("course", "build", DEMO)],
    )


def _template_pid(hub: hubproc.RunningHub, course: str) -> int:
    import time

    socket = str(template_socket(hub.data_dir, course))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = template_status(socket)
        if status:
            return int(status["pid"])
        time.sleep(0.2)
    raise AssertionError(f"no kernel template answers on {socket}\n{hub.log_tail()}")


def _forked_by_template(pid: int, hub: hubproc.RunningHub, course: str) -> bool:
    """Whether `pid` is a kernel template of `course` (the current one or one being
    replaced: a rebuild of the environment replaces the template, and kernels it forked
    keep it as their parent until they end)."""
    socket = str(template_socket(hub.data_dir, course)).encode()
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return socket in argv


def _server(hub: hubproc.RunningHub, user: str, course: str) -> str:
    client = login(hub.url, user, USERS[user])
    events = start_server(client, user, server=course)
    assert events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    return f"{hub.url}/user/{user}/{course}/"


def _open_link(hub: hubproc.RunningHub, user: str, course: str, path: str) -> Path:
    """Open the notebook's link as `user` (their server running); their copy."""
    client = login(hub.url, user, USERS[user])
    response = client.get(f"/services/coursehub/open/{course}/{path}", follow_redirects=True)
    assert str(response.url).endswith(f"/lab/tree/{path}"), (response.url, response.text[-500:])
    return hub.home_root / hub.unix_name(user) / "courses" / course / path


def _kernelspec_name(copy: Path) -> str:
    if copy.suffix == ".ipynb":
        return json.loads(copy.read_text())["metadata"]["kernelspec"]["name"]
    return "python3"  # the MyST header above


def test_the_course_kernel_is_the_only_kernel_listed_with_the_course_title(
    hub: hubproc.RunningHub,
) -> None:
    server = _server(hub, "alice", MOOC)
    token = hub.user_token("alice")
    specs = httpx.get(
        f"{server}api/kernelspecs", headers={"Authorization": f"token {token}"}, timeout=30
    ).json()
    assert specs["default"] == "python3"
    assert list(specs["kernelspecs"]) == ["python3"]  # not the server's own Python, not R
    spec = specs["kernelspecs"]["python3"]["spec"]
    assert spec["display_name"] == "Python MOOC (course)"
    assert spec["language"] == "python"
    assert spec["argv"][0] == str(DataLayout(hub.data_dir).course_dir(MOOC) / "env/bin/python")


def test_the_demo_notebook_runs_as_written_on_the_forked_course_kernel(
    hub: hubproc.RunningHub,
) -> None:
    _template_pid(hub, DEMO)  # up once the build is done (before it, kernels start cold)
    server = _server(hub, "alice", DEMO)
    token = hub.user_token("alice")
    copy = _open_link(hub, "alice", DEMO, "basics/02-data.ipynb")
    name = _kernelspec_name(copy)
    assert name == "python3"  # as written: the notebook names the standard kernel
    cells = code_cells(copy.read_text(), ".ipynb")
    results = run_notebook(server, token, "basics/02-data.ipynb", [*cells, PROBE], name)
    for result in results:
        assert result["error"] is None, results
    table = results[0]["stdout"]  # tabulate's table of data/cities.csv
    assert "city" in table and "Paris" in table and "-----" in table, table
    parent, prefix, cwd, _ = json.loads(results[-1]["stdout"])
    assert _forked_by_template(parent, hub, DEMO), "the kernel should be forked from the template"
    course_dir = DataLayout(hub.data_dir).course_dir(DEMO).resolve()
    assert Path(prefix).resolve().is_relative_to(course_dir)
    assert Path(cwd) == copy.parent  # the notebook's folder in alice's workspace


def test_every_python_name_the_notebooks_use_is_the_course_kernel(
    hub: hubproc.RunningHub,
) -> None:
    _template_pid(hub, MOOC)  # up once the build is done (before it, kernels start cold)
    server = _server(hub, "bob", MOOC)
    token = hub.user_token("bob")
    course_dir = DataLayout(hub.data_dir).course_dir(MOOC).resolve()
    for name in ("conda-env-mooc-py", "coursehub-mooc", "python3"):
        ran = run_code(server, token, "import tabulate\n" + PROBE, kernel=name)
        assert ran["error"] is None, (name, ran)
        parent, prefix, _cwd, _path = json.loads(ran["stdout"])
        assert _forked_by_template(parent, hub, MOOC), name
        assert Path(prefix).resolve().is_relative_to(course_dir), name
    # other languages, the server's own Python (not asked for by the course), another
    # course's kernel and path tricks are no kernels of this course
    for name in ("ir", "python3-server", "coursehub-demo", "../demo/jupyter/kernels/python3"):
        response = httpx.post(
            f"{server}api/kernels",
            json={"name": name},
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        assert response.status_code >= 400, (name, response.status_code)  # NoSuchKernel


def test_modules_and_python_path_come_from_the_read_only_checkout(
    hub: hubproc.RunningHub,
) -> None:
    server = _server(hub, "alice", MOOC)
    token = hub.user_token("alice")
    path = "w2/w2-s2-x1-expressions-regulieres.md"
    copy = _open_link(hub, "alice", MOOC, path)
    cells = code_cells(copy.read_text(), ".md")
    checkout = DataLayout(hub.data_dir).course_repo(MOOC).resolve()
    probe = (
        "import corrections, course_helpers, os\n"
        "print(corrections.__file__); print(course_helpers.__file__)\n"
        f"print(os.access({str(checkout / 'modules')!r}, os.W_OK))"
    )
    results = run_notebook(server, token, path, [*cells, probe], _kernelspec_name(copy))
    for result in results:
        assert result["error"] is None, results
    assert "identifiers: ['foo', '_bar']" in results[0]["stdout"]
    assert results[2]["stdout"].strip() == "correct"
    corrections, helpers, writable = results[-1]["stdout"].split()
    assert Path(corrections) == checkout / "modules" / "corrections" / "__init__.py"
    assert Path(helpers) == checkout / "lib" / "course_helpers.py"
    assert writable == "False"  # a student cannot change the modules everyone imports

    # the .ipynb of week 1 imports from lib/ too, on the kernel its metadata names
    copy = _open_link(hub, "alice", MOOC, "w1/tables.ipynb")
    cells = code_cells(copy.read_text(), ".ipynb")
    results = run_notebook(server, token, "w1/tables.ipynb", cells, _kernelspec_name(copy))
    assert [r["stdout"].strip() for r in results] == ["a  1", "hello from lib"], results


def _servers_of(hub: hubproc.RunningHub, user: str) -> dict:
    cli_token = (hub.data_dir / "secrets" / "cli_token").read_text().strip()
    hub_port = json.loads((hub.data_dir / "runtime" / "ports.json").read_text())["hub"]
    response = httpx.get(
        f"http://127.0.0.1:{hub_port}/hub/api/users/{user}",
        headers={"Authorization": f"token {cli_token}"},
    )
    response.raise_for_status()
    return response.json().get("servers") or {}


def test_an_r_notebook_link_names_the_kernels_before_any_server_starts(
    hub: hubproc.RunningHub,
) -> None:
    client = login(hub.url, "carol", USERS["carol"])
    link = f"/services/coursehub/open/{MOOC}/r/intro.ipynb"
    # through the hub's link (hub/course_links.py), which leaves notices to the service
    page = client.get(link, follow_redirects=True)
    assert page.status_code == 200, page.text[-500:]
    assert page.url.path == link, page.url
    text = " ".join(page.text.split())
    assert "asks for the kernel <strong>ir</strong> (R), for the R language" in text
    assert "This course has no such kernel" in text
    assert "<li>Python MOOC (course), a Python kernel</li>" in text
    assert _servers_of(hub, "carol") == {}  # no server started for a notebook it cannot run
    # "Open it anyway" goes on to the server start, and comes back past the notice
    anyway = client.get(link + "?kernel=anyway")
    assert anyway.status_code == 302, anyway.text[-300:]
    location = unquote(anyway.headers["location"])
    assert f"/hub/spawn/carol/{MOOC}?next=" in location
    assert location.endswith("/open/mooc/r/intro.ipynb?kernel=anyway")
    hostile = client.get(f"/services/coursehub/open/{MOOC}/r/hostile.ipynb")
    assert hostile.status_code == 200
    assert "<script>alert(1)" not in hostile.text and "<b>R</b>" not in hostile.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile.text
    assert "&lt;b&gt;R&lt;/b&gt;" in hostile.text
    # a Python notebook's link has no notice
    python = client.get(f"/services/coursehub/open/{MOOC}/w3/old.ipynb")
    assert python.status_code == 302 and "/hub/spawn/carol/" in python.headers["location"]


def test_in_jupyterlab_the_demo_notebook_runs_on_the_course_kernel(
    hub: hubproc.RunningHub,
) -> None:
    """What a student sees: no kernel to choose, the course's title as the kernel's
    name, and the cell's table from the course environment's tabulate."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        # the link itself, signing in on the way
        page.goto(f"{hub.url}/services/coursehub/open/{DEMO}/basics/02-data.ipynb")
        page.fill("#username_input", "bob")
        page.fill("#password_input", USERS["bob"])
        page.click("#login_submit")
        try:
            page.wait_for_url("**/lab/tree/basics/02-data.ipynb", timeout=180_000)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell >> visible=true", timeout=120_000)
            kernel = page.locator(".jp-Toolbar-kernelName >> visible=true")
            kernel.filter(has_text="Demo course (course)").wait_for(timeout=60_000)
            # the status bar says the kernel is up before anything runs
            page.wait_for_selector("text=Demo course (course) | Idle", timeout=60_000)
            page.locator(".jp-CodeCell .jp-InputArea-editor >> visible=true").first.click()
            page.keyboard.press("Shift+Enter")
            output = page.locator(".jp-OutputArea-output >> visible=true")
            output.filter(has_text="Paris").first.wait_for(timeout=60_000)
            assert "ModuleNotFoundError" not in page.inner_text(".jp-Notebook")
        finally:
            page.screenshot(path=str(SHOTS / "course-kernel-demo.png"))
