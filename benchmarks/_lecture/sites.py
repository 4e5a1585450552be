"""The hubs a lecture is measured on, each as the admin would run it for the class.

Each is a context manager yielding a ``Site``: where students go, their accounts, the
course link, an admin's hub API client, and the settings it runs with (printed and
saved with every result). However the block is left, the hub is stopped and what was
made (accounts, temp dirs) is deleted; the baseline's venvs are kept for the next run.

Security settings: per-user subdomains are on for every target (what docs/security.md
asks of a production coursehub, and what JupyterHub's own security docs recommend):
the hub is at ``http://hub.localhost:<port>`` and servers at
``http://<user>.hub.localhost:<port>``, which the simulated students resolve to
loopback as Chromium does. HTTPS is not measured: coursehub, like
JupyterHub, leaves TLS to a proxy in front, which would cost both sides the same.
"""

from __future__ import annotations

import json
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from ruamel.yaml import YAML

from _lecture import baseline_venv, course
from _storm import accounts, targets
from _storm.accounts import Credentials
from _storm.course_repo import ServedCourse
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

LABEL = "lecture"
# the hub's name; servers are at <user>.hub.localhost (see _lecture/net.py)
HOST = "hub.localhost"
BUILD_TIMEOUT = 900
TARGETS = ("coursehub-cold", "coursehub-warmed", "baseline-tuned", "baseline-fixes",
           "baseline-prestarted")  # fmt: skip


@dataclass
class Site:
    target: str
    hub_url: str  # what students type: http://hub.localhost:<port>
    students: list[Credentials]  # hub login names
    server_name: str  # the server a student's link opens ("" = the default server)
    notebook: str  # the notebook's path in the student's server
    api: httpx.Client  # the hub's REST API with an admin's token
    hub_cpu: HubCpu
    settings: dict[str, Any]
    link_kind: str  # coursehub | nbgitpuller
    course: ServedCourse
    config: Path | None = None  # coursehub.yaml
    notes: list[str] = field(default_factory=list)
    unix_prefix: str = ""  # the students' Unix accounts start with it

    def uids(self) -> set[int]:
        """The students' Unix uids (whose processes count as this benchmark's)."""
        return {pwd.getpwnam(n).pw_uid for n in accounts.names_with_prefix(self.unix_prefix)}

    def link(self, user: str) -> str:
        """The course link the teacher shared: the same for every student."""
        if self.link_kind == "coursehub":
            return f"{self.hub_url}/services/coursehub/open/{course.COURSE}/{self.notebook}"
        query = urlencode({"repo": self.course.url, "branch": self.course.branch,
                           "urlpath": f"lab/tree/{self.notebook}"})  # fmt: skip
        return f"{self.hub_url}/hub/user-redirect/git-pull?{query}"

    def server_url(self, user: str) -> str:
        """The student's server (prefix with a trailing slash), on their own subdomain."""
        host = self.hub_url.replace("://", f"://{user}.", 1)
        name = f"{quote(self.server_name)}/" if self.server_name else ""
        return f"{host}/user/{quote(user)}/{name}"


# --------------------------------------------------------------------------- coursehub


def coursehub_settings(target: str) -> dict[str, Any]:
    """What differs from `coursehub init`'s site, and how the class was prepared."""
    return {
        "coursehub.yaml": {
            "site": {"public_url": "http://hub.localhost:<port>", "user_subdomains": True},
            "servers": {"start": "forked (default)", "concurrent_starts": "auto (default)"},
            "spawn": {"backend": "local (default)"},
            "database": "SQLite (default)",
        },
        "course": {
            "requirements": list(course.REQUIREMENTS),
            "built": "coursehub course build",
            "link": "/services/coursehub/open/<course>/<notebook>",
        },  # fmt: skip
        "warm-up": "coursehub course warm (before the storm)"
        if target == "coursehub-warmed"
        else "none",
    }


@contextmanager
def coursehub(
    target: str, n: int, served: ServedCourse, keep_logs: Path | None, say: Callable[[str], None]
) -> Iterator[Site]:
    seen: dict[str, Path] = {}

    def before_up(config: Path, creds: list[Credentials]) -> None:
        seen["config"] = config
        yaml = YAML()
        doc = yaml.load(config.read_text()) or {}
        port = doc["site"]["port"]
        doc["site"]["public_url"] = f"http://{HOST}:{port}"
        doc["site"]["user_subdomains"] = True
        with config.open("w") as f:
            yaml.dump(doc, f)
        cli = targets.cli_argv
        run_checked(cli(config, "course", "add", course.COURSE, "--repo", served.url,
                        "--branch", served.branch))  # fmt: skip
        run_checked(cli(config, "course", "enrol", course.COURSE, *[c.username for c in creds],
                        "--role", "student"))  # fmt: skip
        say(f"{target}: building the course environment ({', '.join(course.REQUIREMENTS)})…")
        run_checked(cli(config, "course", "build", course.COURSE), timeout=BUILD_TIMEOUT)

    with targets.coursehub(
        n, keep_logs, kind="lec", label=LABEL, before_up=before_up, host=HOST
    ) as hub:
        config = seen["config"]
        prefix = YAML().load(config.read_text())["spawn"]["local"]["user_prefix"]
        data = config.parent.parent / "data"
        token = (data / "secrets" / "cli_token").read_text().strip()
        hub_port = json.loads((data / "runtime" / "ports.json").read_text())["hub"]
        port = httpx.URL(hub.base_url).port
        with _api(hub_port, token) as api:
            yield Site(target, f"http://{HOST}:{port}", hub.students, course.COURSE,
                       course.NOTEBOOK, api, hub.hub_cpu, coursehub_settings(target),
                       "coursehub", served, config, list(hub.notes), prefix)  # fmt: skip


@contextmanager
def _api(hub_port: int, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{hub_port}/hub/api",
        headers={"Authorization": f"token {token}"},
        timeout=60,
        trust_env=False,
    ) as client:
        yield client


# --------------------------------------------------------------------------- baseline

BASELINE_CONFIG = """\
# Plain JupyterHub as a competent admin runs it for a class: its own venv, PAM and
# real Unix accounts, servers given time to start, JupyterLab, per-user subdomains,
# nbgitpuller links for the course content.
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.subdomain_host = "http://{host}:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = "sqlite:///{tmp}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{tmp}/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.Authenticator.allowed_users = {users!r}
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300
# the admin's token, for starting servers before class (REST API)
c.JupyterHub.services = [{{"name": "class-admin", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "class-admin", "services": ["class-admin"],
                            "scopes": ["admin:users", "admin:servers"]}}]
"""


def baseline_settings(target: str, venv: baseline_venv.BaselineVenv) -> dict[str, Any]:
    pkgs = venv.packages
    return {
        "jupyterhub_config.py": {
            "authenticator": "PAMAuthenticator (default), allowed_users = the class",
            "spawner": "LocalProcessSpawner (default)",
            "Spawner.start_timeout": 300,
            "Spawner.http_timeout": 300,
            "Spawner.default_url": "/lab",
            "JupyterHub.subdomain_host": "http://hub.localhost:<port>",
            "database": "SQLite (default)",
        },
        "venv": {
            "path": str(venv.path),
            "kind": venv.kind,
            "jupyterhub": pkgs.get("jupyterhub"),
            "jupyterlab": pkgs.get("jupyterlab"),
            "jupyter_server": pkgs.get("jupyter_server"),
            "nbgitpuller": pkgs.get("nbgitpuller"),
            "nbgrader": pkgs.get("nbgrader"),
            "rfc3987-syntax": pkgs.get("rfc3987-syntax") or pkgs.get("rfc3987_syntax")
            or "not installed",
            "nbgrader extensions": "off" if venv.kind == "fixes" else "on (as installed)",
            "course requirements": list(course.REQUIREMENTS),
        },
        "course": {"link": "nbgitpuller: /hub/user-redirect/git-pull?repo=…&urlpath=lab/tree/…"},
        "warm-up": "servers started through the REST API before the storm"
        if target == "baseline-prestarted"
        else "none",
    }  # fmt: skip


@contextmanager
def baseline(
    target: str, n: int, served: ServedCourse, keep_logs: Path | None, say: Callable[[str], None]
) -> Iterator[Site]:
    venv = baseline_venv.ensure(
        "fixes" if target == "baseline-fixes" else "tuned", course.REQUIREMENTS, say
    )
    prefix = accounts.random_prefix("lpb")
    tmp = Path(tempfile.mkdtemp(prefix=f"{LABEL}-{target}-"))
    log = tmp / "jupyterhub.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        creds = accounts.make_credentials(n, prefix)
        accounts.create(creds)
        port, hub_port, api_port = free_ports(3)
        token = secrets.token_hex(32)
        config = tmp / "jupyterhub_config.py"
        config.write_text(BASELINE_CONFIG.format(
            port=port, hub_port=hub_port, api_port=api_port, tmp=tmp, token=token, host=HOST,
            proxy=targets.proxy_command(), users={c.username for c in creds},
            singleuser=str(venv.bin / "jupyterhub-singleuser"),
        ))  # fmt: skip
        proc = start_logged([str(venv.bin / "jupyterhub"), "-f", str(config)], cwd=tmp, log=log,
                            env=_baseline_env(venv))  # fmt: skip
        wait_healthy(f"http://127.0.0.1:{port}/hub/health", proc, log, timeout=120,
                     headers={"Host": f"{HOST}:{port}"})  # fmt: skip
        with _api(hub_port, token) as api:
            yield Site(target, f"http://{HOST}:{port}", creds, "",
                       f"{served.name}/{served.notebook}", api, HubCpu(proc.pid),
                       baseline_settings(target, venv), "nbgitpuller", served,
                       unix_prefix=prefix)  # fmt: skip
    finally:
        with sigint_deferred():
            stop_tree(proc, [(signal.SIGTERM, 30)])
            accounts.sweep(prefix)
            targets._keep_logs([log], keep_logs, target)
            shutil.rmtree(tmp, ignore_errors=True)


def _baseline_env(venv: baseline_venv.BaselineVenv) -> dict[str, str]:
    """A clean environment: the hub's venv first on PATH, nothing of ours."""
    return {
        "PATH": f"{venv.bin}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": "/root",
    }


@contextmanager
def site(
    target: str, n: int, served: ServedCourse, keep_logs: Path | None, say: Callable[[str], None]
) -> Iterator[Site]:
    if target not in TARGETS:
        raise TargetError(f"unknown target {target!r}; one of {', '.join(TARGETS)}")
    factory = coursehub if target.startswith("coursehub") else baseline
    with factory(target, n, served, keep_logs, say) as made:
        yield made
