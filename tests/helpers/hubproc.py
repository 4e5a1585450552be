"""Start a real `coursehub up` (hub, proxy, service, real servers) for a test."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

READY_TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningHub:
    url: str
    config: Path
    data_dir: Path
    prefix: str
    home_root: Path
    passwords: dict[str, str]
    proc: subprocess.Popen | None = None
    log: Path | None = None
    extra: dict = field(default_factory=dict)

    def log_tail(self, n: int = 60) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "coursehub.cli", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
        )

    def unix_name(self, user: str) -> str:
        return f"{self.prefix}{user}"

    def user_token(self, user: str) -> str:
        """A short-lived hub API token of `user`, made with the CLI's service token."""
        cli_token = (self.data_dir / "secrets" / "cli_token").read_text().strip()
        hub_port = json.loads((self.data_dir / "runtime" / "ports.json").read_text())["hub"]
        response = httpx.post(
            f"http://127.0.0.1:{hub_port}/hub/api/users/{user}/tokens",
            headers={"Authorization": f"token {cli_token}"},
            json={"note": "test", "expires_in": 600},
        )
        response.raise_for_status()
        return response.json()["token"]


def write_site(
    base: Path,
    *,
    users: dict[str, str],
    roles: dict[str, str] | None = None,
    extra_yaml: str = "",
    data_dir: Path | None = None,
    spawn_yaml: str = "",
    site_yaml: str = "",
    idle_yaml: str = "timeout: 0\n",
    public_host: str = "",
) -> RunningHub:
    """A site with a roster of `users` (name -> password); nothing started yet.

    `data_dir`: where the site keeps its data (default: a new folder under /tmp). Sites
    that grade need one outside /tmp: each grading sandbox gets a private /tmp.
    `spawn_yaml`, `site_yaml`, `idle_yaml`: the keys of those sections beyond the ones
    written here (backend, slurm, frame_ancestors, ...), unindented; `idle_yaml`
    replaces the default, no culling. `public_host`: a host name browsers use instead
    of 127.0.0.1 (it becomes site.public_url, e.g. localhost for per-user subdomains)."""
    port = free_port()
    prefix = f"cht{secrets.token_hex(2)}-"
    # Homes must be reachable by student accounts: not under pytest's 0700 tmp dirs.
    home_root = Path(f"/tmp/coursehub-test-homes-{secrets.token_hex(4)}")
    home_root.mkdir(mode=0o711)
    os.chmod(home_root, 0o711)
    # Course files below the data directory are read by student accounts.
    data_dir = data_dir or Path(f"/tmp/coursehub-test-data-{secrets.token_hex(4)}")
    roles = roles or {}
    roster = base / "roster.csv"
    roster.write_text(
        "username,full_name,email,role,password\n"
        + "".join(
            f"{name},{name.title()},,{roles.get(name, 'student')},{pw}\n"
            for name, pw in users.items()
        )
    )
    os.chmod(roster, 0o600)
    config = base / "coursehub.yaml"
    url = f"http://{public_host or '127.0.0.1'}:{port}"
    if public_host:
        site_yaml = f"public_url: {url}\n{site_yaml}"
    config.write_text(
        f"site:\n  name: Test hub\n  port: {port}\n  data_dir: {data_dir}\n"
        + textwrap.indent(site_yaml, "  ")
        + "roster:\n  file: ./roster.csv\n"
        f"spawn:\n  local:\n    user_prefix: {prefix}\n    home_root: {home_root}\n"
        + textwrap.indent(spawn_yaml, "  ")
        + "idle:\n"
        + textwrap.indent(idle_yaml, "  ")
        + extra_yaml
    )
    return RunningHub(
        url=url,
        config=config,
        data_dir=data_dir,
        prefix=prefix,
        home_root=home_root,
        passwords=dict(users),
    )


def start(hub: RunningHub) -> RunningHub:
    hub.log = hub.config.parent / "up.log"
    out = open(hub.log, "wb")  # noqa: SIM115 - owned by the child
    hub.proc = subprocess.Popen(
        [sys.executable, "-m", "coursehub.cli", "--config", str(hub.config), "up"],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    wait_healthy(hub)
    return hub


def wait_healthy(hub: RunningHub, timeout: float = READY_TIMEOUT) -> None:
    """The hub answers on its own port, then through the public proxy."""
    deadline = time.monotonic() + timeout
    ports = hub.data_dir / "runtime" / "ports.json"
    while time.monotonic() < deadline:
        if hub.proc is not None and hub.proc.poll() is not None:
            raise RuntimeError(f"coursehub up exited ({hub.proc.returncode}):\n{hub.log_tail()}")
        with contextlib.suppress(httpx.TransportError, OSError, ValueError, KeyError):
            hub_port = json.loads(ports.read_text())["hub"]
            direct = httpx.get(f"http://127.0.0.1:{hub_port}/hub/health", timeout=2)
            if (
                direct.status_code == 200
                and httpx.get(f"{hub.url}/hub/health", timeout=2).status_code == 200
                and httpx.get(f"{hub.url}/services/coursehub/health", timeout=2).status_code == 200
            ):
                return
        time.sleep(0.3)
    raise RuntimeError(f"hub not healthy within {timeout}s:\n{hub.log_tail()}")


def interrupt(hub: RunningHub) -> None:
    """Ctrl-C to `coursehub up`: servers, hub, service and proxy stop; the site's
    data, accounts and homes stay (start(hub) brings it back)."""
    if hub.proc is not None and hub.proc.poll() is None:
        hub.proc.send_signal(signal.SIGINT)
        hub.proc.wait(120)


def restart_hub(hub: RunningHub, timeout: float = READY_TIMEOUT) -> None:
    """`coursehub restart`: a new hub process; student servers keep running."""
    pid_file = hub.data_dir / "runtime" / "jupyterhub.pid"
    old = pid_file.read_text().strip()
    done = hub.cli("restart")
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if pid_file.read_text().strip() not in ("", old):
                break
        time.sleep(0.2)
    else:
        raise RuntimeError(f"no new hub within {timeout}s:\n{hub.log_tail()}")
    wait_healthy(hub, timeout)


def stop(hub: RunningHub) -> None:
    """Stop everything and delete the Unix accounts and homes the test made."""
    if hub.proc is not None and hub.proc.poll() is None:
        hub.proc.send_signal(signal.SIGINT)
        try:
            hub.proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(hub.proc.pid, signal.SIGKILL)
            hub.proc.wait(10)
    remove_accounts(hub.prefix)
    shutil.rmtree(hub.home_root, ignore_errors=True)
    shutil.rmtree(hub.data_dir, ignore_errors=True)


def remove_accounts(prefix: str) -> None:
    pattern = re.compile(rf"^{re.escape(prefix)}")
    for entry in pwd.getpwall():
        if pattern.match(entry.pw_name):
            subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], check=False)
            subprocess.run(["userdel", "--remove", entry.pw_name], capture_output=True, check=False)


@dataclass
class Course:
    """A course for set_up(): cloned from `repo`, with its students and its staff
    (username -> course role: instructor or ta)."""

    repo: Path
    students: Sequence[str] = ()
    staff: dict[str, str] = field(default_factory=dict)


def set_up(hub: RunningHub, courses: dict[str, Course], then: Sequence[Sequence[str]] = ()) -> None:
    """`coursehub course add` for each of `courses` (name -> Course), then `course enrol`
    for their members, then the commands in `then`; each must succeed."""
    steps: list[Sequence[str]] = [
        ("course", "add", name, "--repo", str(course.repo)) for name, course in courses.items()
    ]
    for name, course in courses.items():
        if course.students:
            steps.append(("course", "enrol", name, *course.students))
        steps += [
            ("course", "enrol", name, user, "--role", role) for user, role in course.staff.items()
        ]
    for args in [*steps, *then]:
        done = hub.cli(*args)
        assert done.returncode == 0, done.stdout + done.stderr


@contextmanager
def running(
    base: Path,
    *,
    courses: dict[str, Course] | None = None,
    then: Sequence[Sequence[str]] = (),
    **site: object,
) -> Iterator[RunningHub]:
    """write_site(base, **site), started, with `courses` set up (see set_up); stopped
    afterwards, its accounts, homes and data removed."""
    hub = write_site(base, **site)  # type: ignore[arg-type]
    try:
        start(hub)
        set_up(hub, courses or {}, then)
        yield hub
    finally:
        stop(hub)


@contextmanager
def outside_tmp(label: str) -> Iterator[Path]:
    """A folder for a site that grades, /srv/coursehub-test-<label>-…: each grading
    sandbox gets a private /tmp, which would hide one under /tmp. Removed afterwards."""
    base = Path(f"/srv/coursehub-test-{label}-{secrets.token_hex(4)}")
    base.mkdir(mode=0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)
