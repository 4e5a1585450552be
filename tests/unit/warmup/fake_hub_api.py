"""The hub's REST API as a warm-up uses it, answered in memory (httpx.MockTransport):
users, their named servers (a start takes `start_polls` looks to become ready), tokens,
groups. It records every call, and the most starts it saw pending at once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote

import httpx

from coursehub.warmup.hub import HubApi

API = "http://hub.test/hub/api"
TOKEN = "service-token-" + "x" * 32


@dataclass
class FakeHubApi:
    users: dict[str, dict] = field(default_factory=dict)  # name -> {"servers": {...}}
    tokens: dict[str, list[dict]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    refuse: dict[str, int] = field(default_factory=dict)  # user -> status of their start
    start_polls: int = 2
    token: str = TOKEN
    calls: list[tuple[str, str]] = field(default_factory=list)
    most_pending: int = 0
    _polls: dict[str, int] = field(default_factory=dict)

    def api(self) -> HubApi:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        return HubApi(client, API, self.token)

    def add_user(self, name: str, *courses: str, started: datetime | None = None) -> None:
        self.users[name] = {"name": name, "servers": {}}
        for course in courses:
            self.users[name]["servers"][course] = self._model(name, course, started, True)

    def _model(self, user: str, course: str, started: datetime | None, ready: bool) -> dict:
        when = (started or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
        return {
            "name": course,
            "ready": ready,
            "pending": None if ready else "spawn",
            "started": when,
            "url": f"/user/{user}/{course}/",
        }

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"token {self.token}"
        path = unquote(request.url.path.removeprefix("/hub/api"))
        self.calls.append((request.method, path))
        parts = path.strip("/").split("/")
        if parts == ["users"]:
            return self._list(request)
        if parts[0] == "groups":
            return self._groups(request, parts)
        name = parts[1]
        user = self.users.get(name)
        if request.method == "POST" and len(parts) == 2:
            if user is not None:
                return httpx.Response(409, json={"message": "exists"})
            self.add_user(name)
            return httpx.Response(201, json={"name": name})
        if user is None:
            return httpx.Response(404, json={"status": 404, "message": "Not found"})
        if len(parts) == 2:
            self._advance(name)
            return httpx.Response(200, json=user)
        if parts[2] == "tokens":
            return httpx.Response(200, json={"api_tokens": self.tokens.get(name, [])})
        course = parts[3]
        if request.method == "POST":
            if name in self.refuse:
                return httpx.Response(self.refuse[name], json={"message": f"no for {name}"})
            if course in user["servers"]:
                return httpx.Response(400, json={"message": f"{name}/{course} is already running"})
            user["servers"][course] = self._model(name, course, None, False)
            self._polls[f"{name}/{course}"] = self.start_polls
            pending = sum(
                1 for u in self.users.values() for s in u["servers"].values() if s["pending"]
            )
            self.most_pending = max(self.most_pending, pending)
            return httpx.Response(202)
        if request.method == "DELETE":
            user["servers"].pop(course, None)
            return httpx.Response(204)
        raise AssertionError(path)

    def _list(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == "application/jupyterhub-pagination+json"
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        names = sorted(self.users)
        items = [self.users[n] for n in names[offset : offset + limit]]
        following = offset + limit < len(names)
        nxt = {"offset": offset + limit, "limit": limit, "url": "..."} if following else None
        body = {"items": items, "_pagination": {"offset": offset, "total": len(names), "next": nxt}}
        return httpx.Response(200, json=body)

    def _advance(self, name: str) -> None:
        for course, server in self.users[name]["servers"].items():
            key = f"{name}/{course}"
            if key in self._polls:
                self._polls[key] -= 1
                if self._polls[key] <= 0:
                    del self._polls[key]
                    server.update(ready=True, pending=None)

    def _groups(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        group = parts[1]
        if len(parts) == 2:
            self.groups.setdefault(group, [])
            return httpx.Response(201)
        if group not in self.groups:
            return httpx.Response(404, json={"message": f"No such group: {group}"})
        self.groups[group] += json.loads(request.content)["users"]
        return httpx.Response(200)
