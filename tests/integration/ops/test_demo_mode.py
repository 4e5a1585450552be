"""Without root, coursehub runs a loudly labelled demo: every server as one account."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture
def plain_account() -> Iterator[tuple[str, Path]]:
    """A non-root account that will run `coursehub up`, with a site directory of its own."""
    name = f"chd{secrets.token_hex(3)}"
    home = Path(f"/tmp/{name}-home")
    subprocess.run(
        ["useradd", "--create-home", "--home-dir", str(home), "--user-group", name], check=True
    )
    try:
        yield name, home
    finally:
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)
        subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def test_non_root_up_runs_servers_as_itself_and_says_so(
    plain_account: tuple[str, Path],
) -> None:
    name, home = plain_account
    site = hubproc.write_site(home, users={"gil": "gil-pass-123"})
    shutil.rmtree(site.home_root, ignore_errors=True)  # demo homes live in the data dir
    subprocess.run(["chown", "-R", f"{name}:{name}", str(home)], check=True)
    site.log = home / "up.log"
    with open(site.log, "wb") as out:
        site.proc = subprocess.Popen(
            [
                "runuser",
                "-u",
                name,
                "--",
                sys.executable,
                "-m",
                "coursehub.cli.main",
                "--config",
                str(site.config),
                "up",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "HOME": str(home)},
        )
    try:
        hubproc.wait_healthy(site)
        assert "DEMO MODE" in site.log.read_text()
        client = login(site.url, "gil", "gil-pass-123")
        assert start_server(client, "gil")[-1].get("ready"), site.log_tail()
        demo_homes = str(site.data_dir / "demo-homes")
        servers = [
            p
            for p in psutil.process_iter(["username", "cmdline", "cwd"])
            if "coursehub.student.singleuser" in " ".join(p.info["cmdline"] or [])
            and (p.info["cwd"] or "").startswith(demo_homes)
        ]
        assert servers and all(p.info["username"] == name for p in servers)
        assert (site.data_dir / "demo-homes" / "gil").is_dir()
        # forked from the template, which runs as that same account
        assert "Forked gil from the server template" in site.log.read_text(), site.log_tail()
        # no Unix account was made for the student
        assert subprocess.run(["id", site.unix_name("gil")], capture_output=True).returncode != 0
    finally:
        # runuser does not pass SIGINT on: Ctrl-C `coursehub up` itself, as a terminal would
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(site.proc.pid).children():
                child.send_signal(signal.SIGINT)
        hubproc.stop(site)
