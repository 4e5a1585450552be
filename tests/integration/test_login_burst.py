"""A burst of students starting at once queues on the progress page; nobody fails."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server

pytestmark = [pytest.mark.integration, pytest.mark.root]

STUDENTS = {f"burst{i}": f"burst-pass-{i:03d}" for i in range(4)}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hubproc.RunningHub]:
    # One start at a time makes the queue visible with only four students.
    site = hubproc.write_site(
        tmp_path_factory.mktemp("burst-site"),
        users=STUDENTS,
        extra_yaml="servers:\n  concurrent_starts: 1\n",
    )
    try:
        yield hubproc.start(site)
    finally:
        hubproc.stop(site)


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
