"""The hub's REST API as a warm-up uses it: is a student known and is their course
server running, start it and wait until it answers, has anyone opened it, stop it.

The token is the caller's: the service's own (start, stop and read the servers of
students, read their tokens) or the command line's (an admin's, which may also tell
the hub about a student who has not signed in yet). It is only ever sent to the hub.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from coursehub.core.times import utc

POLL = 0.5  # seconds between two looks at a starting server
START_REQUEST_TIMEOUT = 60.0  # the hub answers a start once ready, or 202 after ~10 s
MAX_MESSAGE = 200
PAGE = 200  # users per page of the hub's user list


class HubRefused(Exception):
    """The hub answered a call with an error; the message is the hub's, shortened."""


@dataclass(frozen=True)
class ServerSeen:
    ready: bool
    pending: str | None
    started: datetime | None


@dataclass(frozen=True)
class Started:
    outcome: str  # warmed | running | failed
    detail: str = ""
    started: datetime | None = None


@dataclass
class HubApi:
    client: httpx.AsyncClient
    api_url: str
    token: str = field(repr=False)

    async def call(
        self, method: str, path: str, headers_extra: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}", **(headers_extra or {})}
        return await self.client.request(
            method, f"{self.api_url.rstrip('/')}{path}", headers=headers, **kwargs
        )

    async def user(self, name: str) -> dict[str, Any] | None:
        """The hub's model of `name`, None when the hub does not know them."""
        response = await self.call("GET", f"/users/{quote(name, safe='')}")
        if response.status_code == 404:
            return None
        _check(response)
        body = response.json()
        return body if isinstance(body, dict) else None

    async def all_users(self) -> dict[str, set[str]]:
        """Every user the hub knows -> the names of their running or starting servers."""
        found: dict[str, set[str]] = {}
        offset = 0
        while True:
            response = await self.call(
                "GET",
                "/users",
                params={"offset": offset, "limit": PAGE},
                headers_extra={"Accept": "application/jupyterhub-pagination+json"},
            )
            _check(response)
            body = response.json()
            items = body.get("items", []) if isinstance(body, dict) else body
            for user in items if isinstance(items, list) else []:
                if isinstance(user, dict) and isinstance(user.get("name"), str):
                    found[user["name"]] = set(user.get("servers") or {})
            following = body.get("_pagination", {}).get("next") if isinstance(body, dict) else None
            if not following or not items:
                return found
            offset = int(following.get("offset", offset + len(items)))

    async def server(self, name: str, course: str) -> ServerSeen | None:
        """`name`'s server `course` if it runs or is starting, else None."""
        model = await self.user(name)
        found = ((model or {}).get("servers") or {}).get(course)
        if not isinstance(found, dict):
            return None
        return ServerSeen(
            ready=bool(found.get("ready")),
            pending=found.get("pending") if isinstance(found.get("pending"), str) else None,
            started=_time(found.get("started")),
        )

    async def create_user(self, name: str, groups: list[str]) -> None:
        """Tell the hub about a student before their first sign-in (admins only), in the
        groups their sign-in would give them."""
        response = await self.call("POST", f"/users/{quote(name, safe='')}")
        if response.status_code != 409:  # someone signed in meanwhile
            _check(response)
        for group in groups:
            path = f"/groups/{quote(group, safe='')}"
            added = await self.call("POST", f"{path}/users", json={"users": [name]})
            if added.status_code == 404:  # made at the first sign-in of one of its members
                made = await self.call("POST", path)
                if made.status_code != 409:
                    _check(made)
                added = await self.call("POST", f"{path}/users", json={"users": [name]})
            _check(added)

    async def start(self, name: str, course: str, timeout: float) -> Started:
        """Start `name`'s server `course` and wait until it is ready, has failed, or
        `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        path = f"/users/{quote(name, safe='')}/servers/{quote(course, safe='')}"
        try:
            response = await self.call("POST", path, json={}, timeout=START_REQUEST_TIMEOUT)
        except httpx.HTTPError as exc:
            return Started("failed", f"the hub did not answer ({type(exc).__name__})")
        if response.status_code == 400 and "pending" in _message(response).lower():
            return Started("running", "was starting already")
        if response.status_code == 400 and "already running" in _message(response).lower():
            return Started("running", "was running already")
        if response.status_code not in (201, 202):
            return Started("failed", f"the hub refused: {_message(response)}")
        while True:
            seen = await self.server(name, course)
            if seen is None:
                return Started("failed", "the server stopped while starting (see the hub's log)")
            if seen.ready:
                return Started("warmed", "", seen.started)
            if time.monotonic() > deadline:
                return Started("failed", f"not ready after {timeout:.0f} s")
            await asyncio.sleep(POLL)

    async def stop(self, name: str, course: str) -> None:
        path = f"/users/{quote(name, safe='')}/servers/{quote(course, safe='')}"
        _check(await self.call("DELETE", path))

    async def opened_since(self, name: str, course: str, since: datetime) -> bool:
        """Whether someone signed in to `name`'s server `course` in a browser since
        `since`: the hub keeps one OAuth token per such sign-in, of the server's own
        client, with its last use. (Tokens the server itself or the service hold are of
        other clients.) HubRefused when the hub does not say."""
        response = await self.call("GET", f"/users/{quote(name, safe='')}/tokens")
        _check(response)
        body = response.json()
        tokens = body.get("api_tokens", []) if isinstance(body, dict) else []
        suffix = f"/user/{name}/{course}/"
        for token in tokens if isinstance(tokens, list) else []:
            if not isinstance(token, dict):
                continue
            client = str(token.get("oauth_client") or "")
            if not (client.startswith("Server at ") and client.endswith(suffix)):
                continue
            used = [
                t for t in (_time(token.get("last_activity")), _time(token.get("created"))) if t
            ]
            if used and max(used) >= since:
                return True
        return False


def _check(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise HubRefused(f"HTTP {response.status_code}: {_message(response)}")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    text = body.get("message") if isinstance(body, dict) else None
    text = str(text or response.text or response.reason_phrase).strip()
    return text[:MAX_MESSAGE]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return utc(found)
