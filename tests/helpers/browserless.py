"""Sign in through the real login form and start a server, like a browser would."""

from __future__ import annotations

import json
import time

import httpx


def login(hub_url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=hub_url, follow_redirects=False, timeout=30)
    page = client.get("/hub/login")
    page.raise_for_status()
    xsrf = _hub_xsrf(client)
    response = client.post(
        "/hub/login",
        data={"username": username, "password": password, "_xsrf": xsrf},
    )
    if response.status_code != 302:
        raise AssertionError(f"login failed for {username}: HTTP {response.status_code}")
    return client


def start_server(
    client: httpx.Client, username: str, timeout: float = 180, server: str = ""
) -> list[dict]:
    """Ask for a server and follow its progress stream: a course server through
    /hub/spawn, as its link does; the default server, which no link starts (its spawn
    page leads to My courses), through the hub's REST API."""
    if server:
        response = client.get(f"/hub/spawn/{username}/{server}", follow_redirects=True)
        if response.status_code >= 400:
            return [{"failed": True, "message": response.text}]
    else:
        response = client.post(
            f"/hub/api/users/{username}/server", headers={"X-XSRFToken": _hub_xsrf(client)}
        )
        # 400: already running or starting; the progress stream says how it goes
        if response.status_code not in (201, 202, 400):
            return [{"failed": True, "message": response.text}]
    progress = (
        f"/hub/api/users/{username}/servers/{server}/progress"
        if server
        else f"/hub/api/users/{username}/server/progress"
    )
    events = []
    deadline = time.monotonic() + timeout
    with client.stream(
        "GET",
        progress,
        headers={"X-XSRFToken": _hub_xsrf(client)},
        timeout=timeout,
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                events.append(event)
                if event.get("ready") or event.get("failed"):
                    break
            if time.monotonic() > deadline:
                break
    return events


def _hub_xsrf(client: httpx.Client) -> str:
    # Single-user servers set their own _xsrf cookie under /user/<name>/.
    for cookie in client.cookies.jar:
        if cookie.name == "_xsrf" and cookie.path in ("/hub/", "/hub", "/"):
            return cookie.value or ""
    return ""
