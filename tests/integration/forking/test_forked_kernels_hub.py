"""In a running hub: a course with a built environment gets a kernel template, and a
student's notebook kernel in that course is forked from it, as the student.

Real hub, proxy, course server, course environment (built by `coursehub course build`,
about 30 s) and kernel template.
"""

from __future__ import annotations

import json
import os
import pwd
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from coursehub.courses.kernels import kernel_name, template_socket
from coursehub.student.kernel_provisioner import template_status
from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.gitrepo import EMPTY_NOTEBOOK
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123"}
COURSE = "fk"
PROBE = "import os, json; print(json.dumps([os.getuid(), os.getppid(), os.getcwd()]))"


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo(
        {
            "intro.ipynb": EMPTY_NOTEBOOK,
            "course.yaml": (
                "title: Forked kernels\nenvironment:\n  requirements: requirements.txt\n"
            ),
            "requirements.txt": "# nothing beyond the kernel itself\n",
        }
    )
    return start_hub(
        "fk-site",
        users=USERS,
        courses={COURSE: hubproc.Course(repo, ("alice",))},
        then=[("course", "build", COURSE)],
    )


def _template(hub: hubproc.RunningHub) -> dict:
    """The course's kernel template, once the hub has started it (it looks every 5 s)."""
    socket = str(template_socket(hub.data_dir, COURSE))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = template_status(socket)
        if status:
            return status
        time.sleep(0.2)
    raise AssertionError(f"no kernel template answers on {socket}\n{hub.log_tail()}")


def test_a_course_notebook_kernel_is_forked_from_the_course_template(
    hub: hubproc.RunningHub,
) -> None:
    template = _template(hub)
    assert template["current"] and template["threads"] == 1
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server=COURSE)
    assert events[-1].get("ready"), events
    server = f"{hub.url}/user/alice/{COURSE}/"
    token = hub.user_token("alice")
    specs = httpx.get(
        f"{server}api/kernelspecs", headers={"Authorization": f"token {token}"}, timeout=30
    ).json()
    assert specs["default"] == "python3"  # the course kernel, listed under the usual name
    assert list(specs["kernelspecs"]) == ["python3"]
    ran = run_code(server, token, PROBE, kernel=kernel_name(COURSE))
    assert ran["error"] is None, ran
    uid, parent, cwd = json.loads(ran["stdout"])
    assert uid == pwd.getpwnam(hub.unix_name("alice")).pw_uid
    assert parent == template["pid"], "the kernel should be the template's child"
    assert Path(cwd).name == COURSE  # the notebook's folder, in the student's workspace
    after = template_status(str(template_socket(hub.data_dir, COURSE)))
    assert after is not None and after["forks"] > template["forks"]
    # the hub's own template log says nothing of the student's code or token
    log = (hub.data_dir / "logs" / "kernel-templates" / f"{COURSE}.log").read_text()
    assert token not in log


def test_doctor_reports_it(hub: hubproc.RunningHub) -> None:
    _template(hub)
    done = hub.cli("doctor")
    report = " ".join(done.stdout.split())  # as printed, whatever the wrapping
    assert "kernel templates: 1 answering" in report, done.stdout
    assert os.path.exists(template_socket(hub.data_dir, COURSE))
