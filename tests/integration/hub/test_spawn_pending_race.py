"""A course server asked for while the hub's shared thread pool is busy (a class
signing in and starting at once) is shown starting, with its progress, never as
"not running".

JupyterHub refreshes the user before it marks a start pending, and sends the browser
to the spawn-pending page after one second. The refresh used to wait for the shared
thread pool; when that took longer, the page found a server neither pending nor ready
and said it was not running, with no progress stream. Here the pool is held until
the page has been seen, so the old order of events happens every time.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import _hub_xsrf, login

pytestmark = [pytest.mark.integration, pytest.mark.root]

NOTEBOOK = json.dumps(
    {
        "cells": [],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)

# Admin config run inside the hub: once HOLD exists, every thread of the event loop's
# default executor waits for RELEASE, and everything handed to it queues behind them
# (HELD says so).
BUSY_POOL = """
import asyncio, os, time
HOLD, HELD, RELEASE = {hold!r}, {held!r}, {release!r}

def _held():
    while not os.path.exists(RELEASE):
        time.sleep(0.05)

async def _hold_when_asked():
    while not os.path.exists(HOLD):
        await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    for _ in range(64):
        loop.run_in_executor(None, _held)
    open(HELD, "w").close()

_busy_pool_task = asyncio.get_running_loop().create_task(_hold_when_asked())
"""


def test_a_start_behind_a_busy_thread_pool_shows_its_progress(
    site_folder: Callable[..., Path],
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
) -> None:
    base = site_folder("spawn-race")
    hold, held, release = base / "hold", base / "held", base / "release"
    extra = base / "jupyterhub_config.d"
    extra.mkdir()
    busy_pool = BUSY_POOL.format(hold=str(hold), held=str(held), release=str(release))
    (extra / "busy_pool.py").write_text(busy_pool)
    repo = make_course_repo({"intro.ipynb": NOTEBOOK})
    hub = start_hub(
        base,
        users={"ana": "ana-pass-123"},
        courses={"algebra": hubproc.Course(repo, students=["ana"])},
        extra_yaml=f"extra_config_dir: {extra}\n",
    )
    client = login(hub.url, "ana", "ana-pass-123")
    hold.touch()
    deadline = time.monotonic() + 30
    while not held.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held.exists(), hub.log_tail()
    try:
        page = client.get("/hub/spawn/ana/algebra", follow_redirects=True)
    finally:
        release.touch()
    assert page.status_code == 200, page.text[:500]
    assert page.url.path == "/hub/spawn-pending/ana/algebra"
    found = re.search(r'new EventSource\("([^"]+)"\)', page.text)
    assert found, "the page shows no progress:\n" + page.text[:2000]
    # and the start it shows goes on to a running server
    events = []
    with client.stream(
        "GET",
        "/hub/api/users/ana/servers/algebra/progress",
        headers={"X-XSRFToken": _hub_xsrf(client)},
        timeout=180,
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("ready") or events[-1].get("failed"):
                    break
    assert events and events[-1].get("ready"), events
