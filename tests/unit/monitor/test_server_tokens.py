"""The tokens the service shows students' servers: one server each, reused, renewed."""

from __future__ import annotations

import json

import httpx

from coursehub.monitor import server_tokens
from coursehub.monitor.server_tokens import ServerTokens

API = "http://hub/hub/api"


class Hub:
    def __init__(self, status: int = 201):
        self.status = status
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "token service-token"
        assert request.url.raw_path == b"/hub/api/users/amy%20b/tokens"
        self.bodies.append(json.loads(request.content))
        return httpx.Response(self.status, json={"token": f"t{len(self.bodies)}"})


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_one_token_per_server_with_only_that_servers_scope_reused_then_renewed() -> None:
    hub, clock = Hub(), Clock()
    tokens = ServerTokens(API, "service-token", clock=clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(hub)) as client:
        assert await tokens.token(client, "amy b", "algebra") == "t1"
        assert await tokens.token(client, "amy b", "algebra") == "t1"  # kept
        assert hub.bodies == [
            {
                "scopes": ["access:servers!server=amy b/algebra"],
                "expires_in": server_tokens.LIFETIME,
                "note": server_tokens.NOTE,
            }
        ]
        # never handed out close to its end
        clock.now += server_tokens.LIFETIME - server_tokens.RENEW_BEFORE
        assert await tokens.token(client, "amy b", "algebra") == "t2"
        # a server that refused its token gets a new one
        tokens.forget("amy b", "algebra")
        assert await tokens.token(client, "amy b", "algebra") == "t3"
        assert await tokens.token(client, "amy b", "geometry") == "t4"


async def test_a_refusal_of_the_hub_gives_no_token() -> None:
    tokens = ServerTokens(API, "service-token")
    async with httpx.AsyncClient(transport=httpx.MockTransport(Hub(status=403))) as client:
        assert await tokens.token(client, "amy b", "algebra") is None
