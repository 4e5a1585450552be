"""The census asks each server through the proxy; with per-user subdomains the proxy
routes by host, so the request names the user's host."""

from __future__ import annotations

import httpx

from coursehub.monitor.census import CensusTarget, server_kernels
from coursehub.monitor.server_tokens import ServerTokens

API = "http://127.0.0.1:8081/hub/api"


async def _ask(subdomain_host: str) -> tuple[httpx.Request, object]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tokens"):  # the hub makes a token for that server
            return httpx.Response(201, json={"token": "server-token"})
        seen.append(request)
        return httpx.Response(200, json=[{"id": "k1", "execution_state": "idle"}])

    tokens = ServerTokens(API, "service-token")
    target = CensusTarget(
        API, "http://127.0.0.1:8000", "/", "service-token", tokens, subdomain_host
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        kernels = await server_kernels(client, target, "nina", "algebra")
    return seen[0], kernels


async def test_the_census_names_the_users_host_with_subdomains() -> None:
    request, kernels = await _ask("http://localhost:8000")
    assert request.headers["host"] == "nina.localhost:8000"
    assert request.url.path == "/user/nina/algebra/api/kernels" and kernels
    assert request.headers["authorization"] == "token server-token"
    request, _ = await _ask("")
    assert request.headers["host"] == "127.0.0.1:8000"
