"""The two hubs under test. Each is a context manager that yields a running hub and,
however it is left (normal exit, error, Ctrl-C), stops it and deletes what it made.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from _storm import accounts
from _storm.accounts import Credentials
from _storm.procs import (
    HubCpu,
    TargetError,
    free_ports,
    run_checked,
    sigint_deferred,
    start_logged,
    stop_tree,
    wait_healthy,
)

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
NODE_PREFIX = VENV_BIN.parent / "node"
START_TIMEOUT = 120  # hub start-up, before the storm clock starts


@dataclass(frozen=True)
class RunningHub:
    base_url: str
    students: list[Credentials]
    hub_cpu: HubCpu
    notes: tuple[str, ...] = ()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    return env


def _start(
    argv: list[str], tmp: Path, log: Path, cwd: Path
) -> tuple[subprocess.Popen[bytes], str | None]:
    """Start a hub (or `coursehub up`); student accounts must be able to run the venv's Python."""
    probe = subprocess.run(
        ["runuser", "-u", "nobody", "--", str(VENV_BIN / "python"), "-c", "pass"],
        capture_output=True,
    )
    if probe.returncode != 0:
        raise TargetError(
            f"student accounts cannot run {VENV_BIN / 'python'}; "
            "recreate the venv with ./dev setup (it uses a system Python)"
        )
    return start_logged(argv, cwd=cwd, log=log, env=_env()), None


def _keep_logs(src: list[Path], keep_dir: Path | None, target: str) -> None:
    if keep_dir is None:
        return
    dest = keep_dir / target
    dest.mkdir(parents=True, exist_ok=True)
    for path in src:
        if path.is_dir():
            shutil.copytree(path, dest / path.name, dirs_exist_ok=True)
        elif path.exists():
            shutil.copy2(path, dest / path.name)


def _finish(prefix: str, tmp: Path, logs: list[Path], keep_dir: Path | None, name: str) -> None:
    accounts.sweep(prefix)
    _keep_logs(logs, keep_dir, name)
    shutil.rmtree(tmp, ignore_errors=True)
    # a warning, not an exception: raising here would hide why we are cleaning up
    for name in accounts.names_with_prefix(prefix):
        print(f"warning: could not delete account {name}; run: userdel -r {name}", file=sys.stderr)


# --------------------------------------------------------------------------- baseline


def proxy_command() -> str:
    """configurable-http-proxy, installed into the venv's node prefix if missing."""
    found = shutil.which("configurable-http-proxy")
    local = NODE_PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"
    if found:
        return found
    if not local.exists():
        run_checked(
            ["npm", "install", "--prefix", str(NODE_PREFIX), "configurable-http-proxy@4"],
            timeout=600,
        )
    return str(local)


BASELINE_CONFIG = """\
# Plain JupyterHub: defaults everywhere except what is needed to run here.
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
# JupyterHub 5+ admits nobody unless told who may log in; "every PAM user may"
# is what older JupyterHubs did by default, so that is the plain baseline.
c.Authenticator.allow_all = True
# PAMAuthenticator and LocalProcessSpawner are the defaults (http_timeout 30 s,
# start_timeout 60 s); only point the spawner at this venv and at JupyterLab.
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.default_url = "/lab"
"""


@contextmanager
def baseline(
    n: int, keep_logs: Path | None = None, *, kind: str = "lsb", label: str = "login-storm"
) -> Iterator[RunningHub]:
    """Plain JupyterHub 6 (PAM + LocalProcessSpawner) run as root, N real Unix accounts.

    kind starts the accounts' prefix; label names the temp dir (one per benchmark).
    """
    prefix = accounts.random_prefix(kind)
    tmp = Path(tempfile.mkdtemp(prefix=f"{label}-baseline-"))
    log = tmp / "jupyterhub.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        creds = accounts.make_credentials(n, prefix)
        accounts.create(creds)
        port, hub_port, api_port = free_ports(3)
        config = tmp / "jupyterhub_config.py"
        config.write_text(
            BASELINE_CONFIG.format(
                port=port,
                hub_port=hub_port,
                api_port=api_port,
                proxy=proxy_command(),
                singleuser=str(VENV_BIN / "jupyterhub-singleuser"),
            )
        )
        # `jupyterhub` execs in place of any wrapper, so proc.pid is the hub's pid
        proc, note = _start([str(VENV_BIN / "jupyterhub"), "-f", str(config)], tmp, log, tmp)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}/hub/health", proc, log, timeout=START_TIMEOUT)
        yield RunningHub(base, creds, HubCpu(proc.pid), (note,) if note else ())
    finally:
        with sigint_deferred():
            # SIGTERM: JupyterHub stops every server and its proxy, then exits.
            stop_tree(proc, [(signal.SIGTERM, 30)])
            _finish(prefix, tmp, [log], keep_logs, "baseline")


# --------------------------------------------------------------------------- coursehub

COURSEHUB = VENV_BIN / "coursehub"


def cli_argv(config: Path, *args: str) -> list[str]:
    return [str(COURSEHUB), "--config", str(config), *args]


def init_argv(site: Path, port: int) -> list[str]:
    return [str(COURSEHUB), "init", str(site), "--port", str(port)]


def import_argv(config: Path, roster: Path) -> list[str]:
    return cli_argv(config, "users", "import", str(roster))


def up_argv(config: Path) -> list[str]:
    return cli_argv(config, "up")


def configure(config: Path, *, port: int, data_dir: Path, prefix: str, home_root: Path) -> None:
    """Point the generated coursehub.yaml at this run's port, temp dirs and account prefix."""
    yaml = YAML()  # round-trip: keeps the comments init wrote
    doc = yaml.load(config.read_text()) or {}
    site = doc.setdefault("site", {})
    site["port"] = port
    site["data_dir"] = str(data_dir)
    local = doc.setdefault("spawn", {}).setdefault("local", {})
    local["user_prefix"] = prefix
    local["home_root"] = str(home_root)
    with config.open("w") as f:
        yaml.dump(doc, f)


# coursehub's students open a course's server (signing in starts none): the demo course
# `coursehub init` writes, with every student in it, as ./dev demo sets it up.
DEMO_COURSE = "demo"


def add_demo_course(config: Path, students: list[Credentials]) -> None:
    """Add the demo course next to `config` and enrol `students` in it."""
    repo = str(config.parent / "demo-course")
    run_checked(cli_argv(config, "course", "add", DEMO_COURSE, "--repo", repo))
    names = [c.username for c in students]
    run_checked(cli_argv(config, "course", "enrol", DEMO_COURSE, *names))


def write_roster(path: Path, creds: list[Credentials]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["username", "full_name", "email", "role", "password"])
        for c in creds:
            w.writerow([c.username, f"Student {c.username}", f"{c.username}@example.org",
                        "student", c.password])  # fmt: skip


def _read_pid(path: Path, timeout: float) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            time.sleep(0.2)
    raise TargetError(f"{path} was not written")


@contextmanager
def coursehub(
    n: int,
    keep_logs: Path | None = None,
    *,
    kind: str = "lsc",
    label: str = "login-storm",
    before_up: Callable[[Path, list[Credentials]], None] | None = None,
    host: str = "127.0.0.1",
) -> Iterator[RunningHub]:
    """`coursehub up` from a fresh `coursehub init`, N students imported from a roster.

    kind and label as for `baseline`; before_up(config, students) runs once the
    roster is imported, for set-up a benchmark needs (courses, enrolments). host: the
    name the site answers on (with per-user subdomains, that of site.public_url; it
    need not resolve here: requests go to 127.0.0.1 with it as their Host).
    """
    if not COURSEHUB.exists():
        raise TargetError(f"{COURSEHUB} not found (pip install -e . in the venv)")
    prefix = accounts.random_prefix(kind)
    tmp = Path(tempfile.mkdtemp(prefix=f"{label}-coursehub-"))
    site, data, homes = tmp / "site", tmp / "data", tmp / "homes"
    log = tmp / "coursehub-up.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        tmp.chmod(0o755)  # student homes live below: their owners must be able to reach them
        homes.mkdir(mode=0o755)
        (port,) = free_ports(1)
        run_checked(init_argv(site, port))
        config = site / "coursehub.yaml"
        configure(config, port=port, data_dir=data, prefix=prefix, home_root=homes)
        creds = accounts.make_credentials(n)  # hub names s01..; Unix names get the prefix
        roster = tmp / "roster.csv"
        write_roster(roster, creds)
        run_checked(import_argv(config, roster))
        if before_up is not None:
            before_up(config, creds)
        proc, note = _start(up_argv(config), tmp, log, site)
        base = f"http://127.0.0.1:{port}"
        # ready as `up` itself sees it: the hub, then the coursehub service behind it
        for path in ("/hub/health", "/services/coursehub/health"):
            wait_healthy(base + path, proc, log, timeout=START_TIMEOUT,
                         headers={"Host": f"{host}:{port}"})  # fmt: skip
        hub_pid = _read_pid(data / "runtime" / "jupyterhub.pid", timeout=10)
        yield RunningHub(base, creds, HubCpu(hub_pid), (note,) if note else ())
    finally:
        with sigint_deferred():
            # `up` stops on SIGINT like a Ctrl-C in its terminal; escalate if it hangs.
            stop_tree(proc, [(signal.SIGINT, 30), (signal.SIGTERM, 10)])
            _finish(prefix, tmp, [log, data / "logs"], keep_logs, "coursehub")
