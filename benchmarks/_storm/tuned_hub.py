"""Plain JupyterHub as a competent admin runs it for a class: the baseline of the start
benchmarks that begin once the students' servers are up (kernel_start).

Tuned, not default: JupyterHub's 30 s ``http_timeout`` and 60 s ``start_timeout`` are
raised to 300 s (what an admin does after the first lecture), and an admin service
token lets the admin start every student's server before class through the REST API,
as JupyterHub's documentation suggests for a lecture. Everything else is JupyterHub's
default: PAMAuthenticator, LocalProcessSpawner, the stock ``python3`` kernel of the
servers' environment. The settings are returned with the hub, so every benchmark
prints and saves what it ran with.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from _storm import accounts, targets
from _storm.accounts import Credentials
from _storm.procs import (
    TargetError,
    free_ports,
    sigint_deferred,
    start_logged,
    stop_tree,
    wait_healthy,
)

ADMIN_SERVICE = "bench-admin"
TIMEOUT_S = 300  # start_timeout and http_timeout: long enough for a class at once
TOKEN_SECONDS = 3 * 3600

TUNED_CONFIG = """\
# Plain JupyterHub, tuned as a competent admin would for a class.
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.Authenticator.allow_all = True
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.default_url = "/lab"
# the defaults (30 s, 60 s) fail a whole class starting at once
c.Spawner.http_timeout = {timeout}
c.Spawner.start_timeout = {timeout}
# the admin's token, to start servers before class through the REST API
c.JupyterHub.services = [{{"name": "{service}", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "{service}",
    "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"],
    "services": ["{service}"],
}}]
"""

# What the run used, for the printed settings and the raw results.
SETTINGS = {
    "hub": "plain JupyterHub (PAMAuthenticator, LocalProcessSpawner)",
    "Spawner.http_timeout": TIMEOUT_S,
    "Spawner.start_timeout": TIMEOUT_S,
    "servers": "started before the measurement through the REST API, with an admin token",
    "kernel": "the servers' environment's stock python3 kernelspec (ipykernel)",
}


@dataclass
class TunedHub:
    base_url: str
    api_url: str  # …/hub/api
    admin_token: str
    students: list[Credentials]
    hub_pid: int
    settings: dict[str, object] = field(default_factory=lambda: dict(SETTINGS))

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"token {self.admin_token}"},
            timeout=30,
        )

    def user_tokens(self) -> dict[str, str]:
        """A hub token per student, as their browser's cookie would authorise them."""
        tokens = {}
        with self.api() as api:
            for c in self.students:
                r = api.post(
                    f"/users/{c.username}/tokens",
                    json={"note": "benchmark", "expires_in": TOKEN_SECONDS},
                )
                if r.status_code != 201:
                    raise TargetError(f"token for {c.username}: {r.status_code} {r.text[:300]}")
                tokens[c.username] = r.json()["token"]
        return tokens


def _env() -> dict[str, str]:
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return {**os.environ, "PATH": f"{targets.VENV_BIN}{os.pathsep}{path}"}


@contextmanager
def tuned_jupyterhub(n: int, *, kind: str, label: str) -> Iterator[TunedHub]:
    """Plain JupyterHub 6, tuned, run as root with N real Unix accounts (prefix `kind`);
    stopped and everything it made deleted however the block is left."""
    prefix = accounts.random_prefix(kind)
    tmp = Path(tempfile.mkdtemp(prefix=f"{label}-jupyterhub-"))
    log = tmp / "jupyterhub.log"
    proc: subprocess.Popen[bytes] | None = None
    token = secrets.token_hex(32)
    try:
        creds = accounts.make_credentials(n, prefix)
        accounts.create(creds)
        port, hub_port, api_port = free_ports(3)
        config = tmp / "jupyterhub_config.py"
        config.write_text(
            TUNED_CONFIG.format(
                port=port,
                hub_port=hub_port,
                api_port=api_port,
                proxy=targets.proxy_command(),
                singleuser=str(targets.VENV_BIN / "jupyterhub-singleuser"),
                timeout=TIMEOUT_S,
                service=ADMIN_SERVICE,
                token=token,
            )
        )
        argv = [str(targets.VENV_BIN / "jupyterhub"), "-f", str(config)]
        proc = start_logged(argv, cwd=tmp, log=log, env=_env())
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}/hub/health", proc, log, timeout=targets.START_TIMEOUT)
        with httpx.Client(timeout=30, headers={"Authorization": f"token {token}"}) as api:
            r = api.post(f"{base}/hub/api/users", json={"usernames": [c.username for c in creds]})
            if r.status_code not in (201, 409):
                raise TargetError(f"creating hub users: {r.status_code} {r.text[:300]}")
        yield TunedHub(base, f"{base}/hub/api", token, creds, proc.pid)
    finally:
        with sigint_deferred():
            stop_tree(proc, [(signal.SIGTERM, 30)])
            accounts.sweep(prefix)
            shutil.rmtree(tmp, ignore_errors=True)
