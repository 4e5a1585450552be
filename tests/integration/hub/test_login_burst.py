"""A burst of students starting at once queues on the progress page; nobody fails."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server

pytestmark = [pytest.mark.integration, pytest.mark.root]

STUDENTS = {f"burst{i}": f"burst-pass-{i:03d}" for i in range(4)}


@pytest.fixture(scope="module")
def hooks() -> Iterator[Path]:
    # One start at a time, each held 4 s by a start-up script, keeps students in the
    # queue after the hub's spawn request has returned (forked servers alone are
    # ready in well under a second, before anyone could see the queue).
    hooks = Path(f"/tmp/coursehub-test-hooks-{secrets.token_hex(4)}")
    script = hooks / "site" / "as-root"
    script.parent.mkdir(parents=True, mode=0o755)
    os.chmod(hooks, 0o755)
    script.write_text("#!/bin/sh\nsleep 4\n")
    os.chmod(script, 0o755)
    yield hooks
    shutil.rmtree(hooks, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(hooks: Path, start_hub: Callable[..., hubproc.RunningHub]) -> hubproc.RunningHub:
    # (hooks first: the hub stops before its hooks go)
    return start_hub(
        "burst-site",
        users=STUDENTS,
        extra_yaml=f"servers:\n  concurrent_starts: 1\nhooks:\n  dir: {hooks}\n  timeout: 30s\n",
    )


def test_simultaneous_starts_wait_their_turn_and_all_succeed(hub: hubproc.RunningHub) -> None:
    def one(user: str) -> list[dict]:
        client = login(hub.url, user, STUDENTS[user])
        return start_server(client, user)

    with ThreadPoolExecutor(len(STUDENTS)) as pool:
        results = dict(zip(STUDENTS, pool.map(one, STUDENTS), strict=True))

    for user, events in results.items():
        assert events[-1].get("ready"), f"{user}: {events}\n{hub.log_tail()}"
        assert not any(e.get("failed") for e in events), events
    messages = [e.get("message", "") for events in results.values() for e in events]
    # at least one student was told how many were ahead of them
    assert any("ahead of you" in m for m in messages), messages
