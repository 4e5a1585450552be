"""The coursehub service behind a real JupyterHub 6: OAuth sign-in, tokens, health.

Starts `jupyterhub` (DummyAuthenticator, configurable-http-proxy) on random free ports
with the service registered as a hub-managed service, then drives it with httpx like a
browser: log in through the hub's form, follow the OAuth redirects, call the API.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import psutil
import pytest

pytestmark = pytest.mark.integration

PASSWORD = "integration-password"
SERVICE = "/services/coursehub/"
SITE_NAME = "Integration <Hub>"
START_TIMEOUT = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proxy_command() -> str:
    local = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    found = str(local) if local.exists() else shutil.which("configurable-http-proxy")
    if not found:
        pytest.skip(
            "configurable-http-proxy missing: "
            "npm install --prefix .venv/node configurable-http-proxy@4"
        )
    return found


def wait_for(what: str, check: Callable[[], bool], hub: RunningHub, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.proc.poll() is not None:
            raise AssertionError(f"jupyterhub exited while waiting for {what}:\n{hub.tail()}")
        with contextlib.suppress(httpx.TransportError):
            if check():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{hub.tail()}")


@dataclass
class RunningHub:
    url: str
    proc: subprocess.Popen
    log: Path
    proxy_pid_file: Path

    def tail(self, lines: int = 80) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20, **kwargs)


def write_config(base: Path, proxy_port: int, service_port: int) -> Path:
    config = base / "jupyterhub_config.py"
    service = {
        "name": "coursehub",
        "url": f"http://127.0.0.1:{service_port}",
        "command": [sys.executable, "-m", "coursehub.service"],
        "oauth_no_confirm": True,
        "environment": {
            "COURSEHUB_SITE_NAME": SITE_NAME,
            "COURSEHUB_VERSION": "integration",
            "COURSEHUB_DATABASE_URL": f"sqlite:///{base / 'coursehub.sqlite'}",
        },
    }
    config.write_text(
        textwrap.dedent(
            f"""
            c = get_config()  # noqa
            c.JupyterHub.ip = "127.0.0.1"
            c.JupyterHub.port = {proxy_port}
            c.JupyterHub.hub_ip = "127.0.0.1"
            c.JupyterHub.hub_port = {free_port()}
            c.JupyterHub.db_url = "sqlite:///{base / "jupyterhub.sqlite"}"
            c.JupyterHub.cookie_secret_file = "{base / "cookie_secret"}"
            c.ConfigurableHTTPProxy.command = [{proxy_command()!r}]
            c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
            c.ConfigurableHTTPProxy.pid_file = "{base / "proxy.pid"}"
            c.JupyterHub.authenticator_class = "dummy"
            c.DummyAuthenticator.password = {PASSWORD!r}
            c.Authenticator.allow_all = True
            c.JupyterHub.load_groups = {{"coursehub-instructors": {{"users": ["ines"]}}}}
            c.JupyterHub.load_roles = [
                # Users may open the coursehub pages. The service itself needs no scopes:
                # it identifies people with their own OAuth or API tokens.
                {{"name": "user", "scopes": ["self", "access:services!service=coursehub"]}},
            ]
            c.JupyterHub.services = [{service!r}]
            """
        )
    )
    return config


def stop_hub(proc: subprocess.Popen, children: list[psutil.Process], proxy_pid: Path) -> None:
    """SIGINT the hub, wait, then kill it and anything it started that is still alive.

    The proxy and the service run in sessions of their own, so they are found as the
    hub's children (captured while it ran) or through the proxy's pid file.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    with contextlib.suppress(ValueError, OSError, psutil.NoSuchProcess):
        proxy = psutil.Process(int(proxy_pid.read_text().strip()))
        if "configurable-http-proxy" in " ".join(proxy.cmdline()):
            children.append(proxy)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.is_running():
                child.kill()
                child.wait(10)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    base = tmp_path_factory.mktemp("hub")
    proxy_port, service_port = free_port(), free_port()
    config = write_config(base, proxy_port, service_port)
    log = base / "hub.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "COURSEHUB_"))}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(config)],
            cwd=base,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    running = RunningHub(f"http://127.0.0.1:{proxy_port}", proc, log, base / "proxy.pid")
    children: list[psutil.Process] = []
    try:
        wait_for(
            "the hub",
            lambda: httpx.get(running.url + "/hub/health", timeout=2).status_code == 200,
            running,
            START_TIMEOUT,
        )
        wait_for(
            "the coursehub service",
            lambda: httpx.get(running.url + SERVICE + "health", timeout=2).status_code == 200,
            running,
            START_TIMEOUT,
        )
        children = psutil.Process(proc.pid).children(recursive=True)
        yield running
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            children += psutil.Process(proc.pid).children(recursive=True)
        stop_hub(proc, children, running.proxy_pid_file)


def login(hub: RunningHub, client: httpx.Client, name: str) -> None:
    """Sign in through the hub's real login form, as a browser would."""
    form = client.get("/hub/login")
    assert form.status_code == 200, form.text
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)
    token = xsrf.group(1) if xsrf else client.cookies.get("_xsrf", path="/hub/")
    # Not following the redirect: the hub would go on to spawn a server we do not need.
    response = client.post(
        "/hub/login",
        data={"username": name, "password": PASSWORD, "_xsrf": token},
        follow_redirects=False,
    )
    assert response.status_code == 302, f"{response.status_code}: {response.text[:500]}"
    assert "jupyterhub-session-id" in client.cookies


def hub_token(client: httpx.Client, name: str, **body: Any) -> str:
    """A hub API token for `name`, made with their signed-in browser session."""
    xsrf = client.cookies.get("_xsrf", path="/hub/")
    response = client.post(
        f"/hub/api/users/{name}/tokens",
        content=json.dumps({"note": "coursehub test", "expires_in": 900, **body}),
        headers={"X-XSRFToken": xsrf, "Sec-Fetch-Mode": "same-origin"},
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {
        "error": {"code": code, "message": response.json()["error"]["message"]}
    }


def test_browser_signs_in_through_hub_oauth(hub: RunningHub):
    with hub.client(follow_redirects=True) as browser:
        login(hub, browser, "ines")
        page = browser.get(SERVICE)
        assert page.status_code == 200, page.text
        visited = [str(r.url.path) for r in page.history]
        assert "/hub/api/oauth2/authorize" in visited
        assert SERVICE + "oauth_callback" in visited
        assert 'Signed in as <strong class="name">ines</strong>' in page.text
        assert "instructor" in page.text
        assert "Integration &lt;Hub&gt;" in page.text
        assert page.headers["x-content-type-options"] == "nosniff"
        callback = next(r for r in page.history if r.url.path == SERVICE + "oauth_callback")
        token_cookie = next(
            c for c in callback.headers.get_list("set-cookie") if c.startswith("service-coursehub=")
        )
        assert "HttpOnly" in token_cookie and "SameSite=lax" in token_cookie
        assert f"Path={SERVICE}" in token_cookie

        whoami = browser.get(SERVICE + "api/whoami")
        assert whoami.status_code == 200
        assert whoami.json() == {
            "name": "ines",
            "role": "instructor",
            "groups": ["coursehub-instructors"],
            "admin": False,
        }


def test_user_without_group_is_a_student(hub: RunningHub):
    with hub.client(follow_redirects=True) as browser:
        login(hub, browser, "sam")
        assert browser.get(SERVICE).status_code == 200
        assert browser.get(SERVICE + "api/whoami").json()["role"] == "student"


def test_unauthenticated_api_call_gets_401_json(hub: RunningHub):
    with hub.client() as anonymous:
        assert_error(anonymous.get(SERVICE + "api/whoami"), 401, "not_authenticated")
        assert_error(
            anonymous.get(SERVICE + "api/whoami", headers={"Authorization": "Bearer forged"}),
            401,
            "not_authenticated",
        )
        assert_error(anonymous.get(SERVICE + "api/nothing-here"), 404, "not_found")
        page = anonymous.get(SERVICE)
        assert page.status_code == 302
        assert page.headers["location"].startswith("/hub/api/oauth2/authorize?")


def test_bearer_hub_token_of_a_user(hub: RunningHub):
    with hub.client(follow_redirects=True) as browser:
        login(hub, browser, "ines")
        token = hub_token(browser, "ines")
        narrow = hub_token(browser, "ines", scopes=["read:users:activity!user"])
    with hub.client() as api:
        for scheme in ("Bearer", "token"):
            response = api.get(
                SERVICE + "api/whoami", headers={"Authorization": f"{scheme} {token}"}
            )
            assert response.status_code == 200, response.text
            assert response.json()["name"] == "ines"
            assert response.json()["role"] == "instructor"
        # A real token without access to this service is recognised but refused.
        refused = api.get(SERVICE + "api/whoami", headers={"Authorization": f"Bearer {narrow}"})
        assert_error(refused, 403, "forbidden")

    def logged() -> bool:
        return "coursehub.service.access" in hub.log.read_text(errors="replace")

    wait_for("the access log", logged, hub, 10)
    log_text = hub.log.read_text(errors="replace")
    assert token not in log_text and narrow not in log_text


def test_health_reports_hub_and_database_ok(hub: RunningHub):
    response = httpx.get(hub.url + SERVICE + "health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "hub": "ok",
        "database": "ok",
        "version": "integration",
    }


def test_forged_oauth_code_is_refused_by_the_hub(hub: RunningHub):
    with hub.client() as browser:
        start = browser.get(SERVICE)
        assert start.status_code == 302
        state = parse_qs(urlparse(start.headers["location"]).query)["state"][0]
        # Our state cookie is in the jar, so only the hub's answer about the code decides.
        callback = browser.get(
            SERVICE + "oauth_callback", params={"code": "forged", "state": state}
        )
        assert callback.status_code == 400
        assert callback.headers["content-type"].startswith("text/html")
        assert "service-coursehub=" not in callback.headers.get("set-cookie", "")


def test_hub_logout_ends_the_service_session(hub: RunningHub):
    with hub.client(follow_redirects=True) as browser:
        login(hub, browser, "ines")
        assert browser.get(SERVICE).status_code == 200
        assert browser.get(SERVICE + "api/whoami").status_code == 200
        browser.get("/hub/logout")
        after = browser.get(SERVICE + "api/whoami")
        assert_error(after, 401, "not_authenticated")
