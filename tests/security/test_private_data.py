"""A student, from a terminal or notebook in their own course server, tries to read the
site's databases: password hashes, grades, share tokens, every student's notebook
tails. The data directory's path is no secret (servers are told paths below it), so
only the files' own modes keep them private."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123"}
PROBE = """
import os, sqlite3
for path in {paths!r}:
    if not os.path.exists(path):
        print("MISSING", path)
        continue
    try:
        with open(path, "rb") as f:
            f.read(16)
        print("READ", path)
    except PermissionError:
        print("EACCES", path)
    if path.endswith(".sqlite"):
        try:
            db = sqlite3.connect(f"file:{{path}}?mode=ro", uri=True)
            print("ROWS", path, db.execute("select count(*) from sqlite_master").fetchone())
        except sqlite3.Error as exc:
            print("REFUSED", path, type(exc).__name__)
"""


@pytest.fixture(scope="module")
def hub(start_hub: Callable[..., hubproc.RunningHub]) -> hubproc.RunningHub:
    # outside /tmp: a site's data directory (0711) is reachable by every account
    return start_hub("private-data", outside_tmp=True, users=USERS)


def test_a_student_cannot_read_the_sites_databases(hub: hubproc.RunningHub) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice")
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    names = ("coursehub.sqlite", "jupyterhub.sqlite")
    paths = [f"{hub.data_dir / n}{suffix}" for n in names for suffix in ("", "-wal", "-shm")]
    out = run_code(f"{hub.url}/user/alice/", hub.user_token("alice"), PROBE.format(paths=paths))
    lines = out["stdout"].splitlines()
    found = {line.split()[1] for line in lines if not line.startswith("MISSING")}
    assert str(hub.data_dir / "coursehub.sqlite") in found, out  # the attack was made
    leaked = [line for line in lines if line.startswith(("READ", "ROWS"))]
    assert leaked == [], out
