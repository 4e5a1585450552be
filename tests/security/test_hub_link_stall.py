"""A student who stops their own copy processes cannot stall the hub for everyone.

The hub opens course links itself (hub/course_links.py): the notebook is copied by a
child process with the student's uid, which that student may stop (SIGSTOP) from their
terminal until its time-out. A student doing so while clicking their link many times
must not hold the threads the hub signs people in and starts servers with: another
student signs in and starts their server while every stopped copy is still stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"mallory": "mallory-pass-123", "victor": "victor-pass-456"}
COURSE = "pyds"
NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
CLICKS = 12  # more than the threads of the hub's default executor
# Run as the student: stop every copy process of theirs as soon as it appears.
STOPPER = r"""
import os, signal
me = os.getpid()
while True:
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if b"def copy_new" in f.read():
                    os.kill(int(name), signal.SIGSTOP)
        except OSError:
            pass
"""


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    repo = make_course_repo({"w1/intro.ipynb": NOTEBOOK, "course.yaml": "title: Data\n"})
    return start_hub(
        "hub-link-stall",
        users=USERS,
        courses={COURSE: hubproc.Course(repo, ("mallory", "victor"))},
    )


def _stopped_copies(uid: int) -> set[int]:
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        stopped = fields.get("State", "").split()[:1] == ["T"]
        if stopped and int(fields["Uid"].split()[0]) == uid and b"def copy_new" in cmdline:
            found.add(int(name))
    return found


def test_stopped_copies_of_one_student_do_not_stall_anothers_sign_in_and_start(
    hub: hubproc.RunningHub,
) -> None:
    attacker = login(hub.url, "mallory", USERS["mallory"])
    assert start_server(attacker, "mallory", server=COURSE)[-1].get("ready")
    uid = pwd.getpwnam(hub.unix_name("mallory")).pw_uid
    stopper = subprocess.Popen([sys.executable, "-I", "-c", STOPPER], user=uid, group=uid, cwd="/")
    link = f"/hub/user-redirect/coursehub:open/{COURSE}/w1/intro.ipynb"

    def click() -> None:
        client = httpx.Client(base_url=hub.url, cookies=attacker.cookies, timeout=180)
        with client, contextlib.suppress(httpx.HTTPError):
            client.get(link)

    clicks = [threading.Thread(target=click, daemon=True) for _ in range(CLICKS)]
    held: set[int] = set()
    try:
        for t in clicks:
            t.start()
        for _ in range(600):
            if _stopped_copies(uid):
                break
            time.sleep(0.1)
        time.sleep(3)  # the other clicks reach their copies too
        held = _stopped_copies(uid)
        assert held, "no copy process of the student was seen"

        victim = login(hub.url, "victor", USERS["victor"])
        assert start_server(victim, "victor", server=COURSE)[-1].get("ready")
        # victor got in while the attacker's copies were all still held
        still = _stopped_copies(uid)
        assert held <= still, f"victor waited for the stopped copies to time out: {held - still}"
    finally:
        stopper.kill()
        stopper.wait()
        for pid in held | _stopped_copies(uid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for t in clicks:
            t.join(timeout=120)
