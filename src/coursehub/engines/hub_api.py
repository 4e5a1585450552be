"""A small client for the running hub's REST API, used by the CLI, `up` and the service."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from coursehub.config.layout import DataLayout, Ports
from coursehub.config.secrets import read_secret
from coursehub.core.errors import HubNotRunning


def cli_api(layout: DataLayout) -> tuple[str, str]:
    """The running hub's API URL and the command line's token for it."""
    ports = Ports.read(layout.ports_file)
    token_file = layout.secret_file("cli_token")
    if ports is None or not token_file.exists():
        raise HubNotRunning(
            f"no running hub found for {layout.root} (start it with `coursehub up`)"
        )
    return f"http://127.0.0.1:{ports.hub}/hub/api", read_secret(token_file)


class HubClient:
    def __init__(self, api_url: str, token: str, timeout: float = 10):
        self.api_url = api_url.rstrip("/")
        self._client = httpx.Client(headers={"Authorization": f"token {token}"}, timeout=timeout)

    @classmethod
    def for_layout(cls, layout: DataLayout) -> HubClient:
        return cls(*cli_api(layout))

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, self.api_url + path, **kwargs)
        except httpx.TransportError as exc:
            raise HubNotRunning(
                f"the hub at {self.api_url} did not answer ({exc.__class__.__name__}); "
                "is `coursehub up` running?"
            ) from None
        return response

    def is_up(self) -> bool:
        try:
            return self.request("GET", "/").status_code == 200
        except HubNotRunning:
            return False

    def users(self) -> list[dict[str, Any]]:
        response = self.request("GET", "/users", params={"include_stopped_servers": "0"})
        response.raise_for_status()
        return response.json()

    def stop_server(self, user: str, server: str = "") -> int:
        path = f"/users/{quote(user)}/server"
        if server:
            path = f"/users/{quote(user)}/servers/{quote(server)}"
        return self.request("DELETE", path).status_code

    def delete_user(self, user: str) -> int:
        return self.request("DELETE", f"/users/{quote(user)}").status_code

    def running_servers(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(user, server name, server model) for every running or starting server."""
        found = []
        for user in self.users():
            for name, server in (user.get("servers") or {}).items():
                found.append((user["name"], name, server))
        return found

    def revoke_course_shares(self, course: str, username: str) -> int:
        """Undo the live view's help shares that tie `username` to `course`: those of
        their own course server (they were a student) and those they were given on
        other students' course servers (they were staff). How many were revoked."""
        revoked = 0
        mine = self.request("GET", f"/shares/{quote(username)}/{quote(course)}")
        if mine.status_code == 200 and mine.json().get("items"):
            done = self.request("DELETE", f"/shares/{quote(username)}/{quote(course)}")
            revoked += len(mine.json()["items"]) if done.status_code < 300 else 0
        given = self.request("GET", f"/users/{quote(username)}/shared")
        for share in given.json().get("items", []) if given.status_code == 200 else []:
            server = share.get("server") or {}
            owner = (server.get("user") or {}).get("name")
            if server.get("name") != course or not owner:
                continue
            done = self.request(
                "PATCH", f"/shares/{quote(owner)}/{quote(course)}", json={"user": username}
            )
            revoked += done.status_code < 300
        return revoked
