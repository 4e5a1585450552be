"""Back up a running hub, restore it into a fresh data directory, start a hub there
and find everything: accounts, courses, enrolments, events, a student's workspace
file and the grades."""

from __future__ import annotations

import json
import pwd
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers import hubproc
from tests.helpers.assignments import answer_otter, otter_master
from tests.helpers.browserless import login, start_server
from tests.helpers.grading_site import grading_site

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "tina": "tina-pass-789"}
COURSE = "keep"
SERVICE = "/services/coursehub"
API = f"{SERVICE}/api/courses/{COURSE}/assignments"
NOTE = "written before the backup\n"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def _backup_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coursehub.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _snapshot(hub: hubproc.RunningHub) -> dict:
    """What a user of the site would see, from the CLI and the service API."""
    tina = hub.user_token("tina")
    events = httpx.get(
        f"{hub.url}{SERVICE}/api/events",
        params={"course": COURSE, "limit": 1000},
        headers=_auth(tina),
        timeout=30,
    )
    assert events.status_code == 200, events.text
    out = {"events": len(events.json()["events"])}
    for key, args in {
        "users": ("users", "list"),
        "courses": ("course", "list"),
        "members": ("course", "show", COURSE),
        "grades": ("assignment", "export", COURSE, "squares"),
    }.items():
        done = hub.cli(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        # The course's checkout path names the data directory, which moved.
        out[key] = done.stdout.replace(str(hub.data_dir), "DATA")
    out["users"] = _without_disk_column(out["users"])
    return out


def _without_disk_column(table: str) -> list[list[str]]:
    """The users table's rows, less the disk column: the monitor re-measures it at any time."""
    rows = [line.split("│")[1:-1] for line in table.splitlines() if line.startswith("│")]
    return [[cell.strip() for cell in row[:-1]] for row in rows]


def _populate(site: hubproc.RunningHub, sources: Path) -> None:
    done = site.cli(
        "assignment", "create", COURSE, "squares", "--from",
        str(otter_master(sources / "squares" / "squares.ipynb")),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    login(site.url, "tina", USERS["tina"])
    alice_client = login(site.url, "alice", USERS["alice"])
    started = start_server(alice_client, "alice", server=COURSE)
    assert started and started[-1].get("ready"), started
    tina, alice = site.user_token("tina"), site.user_token("alice")
    released = httpx.post(f"{site.url}{API}/squares/release", headers=_auth(tina), timeout=60)
    assert released.status_code == 200, released.text
    server = f"{site.url}/user/alice/{COURSE}/api/contents/"
    put = httpx.put(
        server + "backup-note.txt",
        headers=_auth(alice),
        json={"type": "file", "format": "text", "content": NOTE},
        timeout=30,
    )
    assert put.status_code in (200, 201), put.text
    answer = answer_otter(
        site.data_dir / "released" / COURSE / "squares" / "squares.ipynb",
        "49",
        "    return 2 * x\n",
    )
    saved = httpx.put(
        server + "assignments/squares/squares.ipynb",
        headers=_auth(alice),
        json={"type": "notebook", "format": "json", "content": json.loads(answer)},
        timeout=30,
    )
    assert saved.status_code == 200, saved.text
    for n in range(3):
        event = {"type": "notebook_saved", "course": COURSE, "path": f"week1/nb{n}.ipynb"}
        posted = httpx.post(f"{site.url}{SERVICE}/api/events", json=event, headers=_auth(alice))
        assert posted.status_code == 201, posted.text
    submitted = httpx.post(
        f"{site.url}{API}/squares/submit",
        headers={**_auth(alice), "Idempotency-Key": "backup-1"},
        timeout=60,
    )
    assert submitted.status_code == 201, submitted.text
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        mine = httpx.get(f"{site.url}{API}/squares/submissions", headers=_auth(alice)).json()
        if any(a["status"] == "done" for a in mine["attempts"]):
            assert mine["attempts"][0]["total"] == 5, mine
            return
        time.sleep(1)
    raise AssertionError(f"not graded in time:\n{site.log_tail()}")


def test_backup_while_running_then_restore_elsewhere(tmp_path: Path) -> None:
    with grading_site("backup", COURSE, USERS, {"tina": "instructor"}) as site:
        _populate(site, tmp_path / "sources")
        before = _snapshot(site)
        assert before["events"] >= 3 and "alice" in before["members"]  # + the server's own

        # Online: the hub, the service and alice's server are all running.
        backups = site.data_dir.parent / "backups"
        taken = _backup_cli("--config", str(site.config), "backup", str(backups))
        assert taken.returncode == 0, taken.stdout + taken.stderr
        (backup,) = [p for p in backups.iterdir() if not p.name.endswith(".partial")]
        assert backup.stat().st_mode & 0o077 == 0
        # Alice's running server may still send events: count those before and after.
        later = _snapshot(site)
        site.proc.send_signal(2)  # stop it; the accounts stay for the restored site
        site.proc.wait(90)

        base = Path(f"/srv/coursehub-test-restored-{secrets.token_hex(4)}")
        base.mkdir(mode=0o711)
        homes = Path(f"/tmp/coursehub-test-homes-{secrets.token_hex(4)}")
        config = base / "coursehub.yaml"
        restored = hubproc.RunningHub(
            url="",
            config=config,
            data_dir=base / "data",
            prefix=site.prefix,
            home_root=homes,
            passwords=dict(USERS),
        )
        try:
            # A tampered copy is refused and writes nothing.
            bad = base / "tampered"
            shutil.copytree(backup, bad, symlinks=True)
            note = next(bad.glob("homes/*/courses/*/backup-note.txt"))
            note.write_text(NOTE.upper())
            refused = _backup_cli("restore", str(bad), "--data-dir", str(base / "data"))
            assert refused.returncode == 2
            rel = note.relative_to(bad).as_posix()
            assert f"{rel}: checksum differs" in " ".join(refused.stderr.split())
            assert not (base / "data").exists()
            shutil.rmtree(bad)

            done = _backup_cli(
                "restore", str(backup), "--data-dir", str(base / "data"),
                "--config-out", str(config), "--home-root", str(homes),
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            assert "does not exist here" not in done.stdout  # the accounts are on this machine

            port = hubproc.free_port()
            text = yaml.safe_load(config.read_text())
            text["site"]["port"] = port
            config.write_text(yaml.safe_dump(text))
            restored.url = f"http://127.0.0.1:{port}"
            hubproc.start(restored)
            after = _snapshot(restored)
            assert before["events"] <= after.pop("events") <= later.pop("events")
            before.pop("events")
            assert after == before == later

            copy = next(homes.glob(f"{site.prefix}alice/courses/*/backup-note.txt"))
            assert copy.read_text() == NOTE
            assert pwd.getpwuid(copy.stat().st_uid).pw_name == f"{site.prefix}alice"
        finally:
            hubproc.stop(restored)
            shutil.rmtree(base, ignore_errors=True)
