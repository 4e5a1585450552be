"""Which course servers run and what their kernels do, asked of the hub (with the
service's token) and of the servers themselves (their REST API, through the proxy,
each with a token that opens that one server only: see server_tokens).

Backend-neutral: nothing here looks at processes, so it works the same for local,
Slurm or Kubernetes servers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from coursehub.core.subdomains import host_header
from coursehub.monitor.server_calls import ask_server
from coursehub.monitor.server_tokens import ServerTokens

log = logging.getLogger("coursehub.monitor")

PAGINATION = "application/jupyterhub-pagination+json"
MAX_KERNELS = 500  # kernels of one server looked at (its answer is the student's)


@dataclass(frozen=True)
class KernelState:
    id: str
    name: str
    execution_state: str  # idle | busy | starting | dead | ...
    last_activity: datetime | None
    connections: int


@dataclass(frozen=True)
class ServerState:
    username: str
    course: str  # the named server's name ("" for a default server)
    ready: bool
    started: datetime | None
    last_activity: datetime | None
    # None when the server could not be asked (starting, stopping, not answering)
    kernels: tuple[KernelState, ...] | None

    @property
    def busy_kernels(self) -> int:
        return sum(k.execution_state == "busy" for k in self.kernels or ())


@dataclass(frozen=True)
class CensusTarget:
    """Where to ask: the hub API (with `token`: read:servers and list:users; it never
    goes to a server), the proxy in front of the servers, and where each server's own
    token comes from."""

    api_url: str
    proxy_url: str
    base_url: str
    token: str
    server_tokens: ServerTokens
    subdomain_host: str = ""  # site.user_subdomains: the proxy routes by host

    def server_url(self, username: str, server: str) -> str:
        """The base URL of a server, through the proxy (ends with a slash)."""
        owner, name = quote(username, safe=""), quote(server, safe="")
        return f"{self.proxy_url}{self.base_url}user/{owner}/{name}/"


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time with its offset (as the hub and servers write them), else None:
    a time without one cannot be compared with the others."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.utcoffset() is not None else None


def _count(value: Any) -> int:
    """A count a server reported (a student's server may report anything)."""
    return value if isinstance(value, int) and 0 <= value < 1 << 31 else 0


async def running_servers(client: httpx.AsyncClient, target: CensusTarget) -> list[ServerState]:
    """Every server the hub reports as running or starting (kernels not asked yet)."""
    headers = {"Authorization": f"token {target.token}", "Accept": PAGINATION}
    url: str | None = f"{target.api_url}/users?state=active&limit=200"
    found: list[ServerState] = []
    while url:
        response = await client.get(url, headers=headers)
        response.raise_for_status()
        body = response.json()
        items = body["items"] if isinstance(body, dict) else body
        for user in items:
            for name, server in (user.get("servers") or {}).items():
                found.append(
                    ServerState(
                        username=user["name"],
                        course=name,
                        ready=bool(server.get("ready")),
                        started=parse_time(server.get("started")),
                        last_activity=parse_time(server.get("last_activity")),
                        kernels=None,
                    )
                )
        nxt = body.get("_pagination", {}).get("next") if isinstance(body, dict) else None
        url = nxt["url"] if nxt else None
    return found


async def server_kernels(
    client: httpx.AsyncClient, target: CensusTarget, username: str, course: str
) -> tuple[KernelState, ...] | None:
    """The kernels of one ready server, or None if it did not answer sensibly."""
    token = await target.server_tokens.token(client, username, course)
    if token is None:
        return None
    url = f"{target.server_url(username, course)}api/kernels"
    try:
        headers = host_header(target.subdomain_host, username)
        headers["Authorization"] = f"token {token}"
        # the student's server answers: bounded in time and size
        response = await ask_server(client, "GET", url, headers=headers)
    except httpx.HTTPError as exc:
        log.debug("kernels of %s/%s: %s", username, course, exc)
        return None
    if response.status_code != 200:
        if response.status_code in (401, 403):
            target.server_tokens.forget(username, course)  # a new one next time
        log.debug("kernels of %s/%s: HTTP %s", username, course, response.status_code)
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, list):
        return None
    kernels = []
    for k in body[:MAX_KERNELS]:
        if not isinstance(k, dict) or not isinstance(k.get("id"), str):
            continue
        kernels.append(
            KernelState(
                id=k["id"][:64],
                name=str(k.get("name", ""))[:100],
                execution_state=str(k.get("execution_state", ""))[:16],
                last_activity=parse_time(k.get("last_activity")),
                connections=_count(k.get("connections")),
            )
        )
    return tuple(kernels)


async def take_census(
    client: httpx.AsyncClient, target: CensusTarget, concurrency: int = 8
) -> list[ServerState]:
    """Running servers with their kernels (ready servers are asked, at most
    `concurrency` at a time, so a class of 300 does not mean 300 requests at once)."""
    servers = await running_servers(client, target)
    gate = asyncio.Semaphore(concurrency)

    async def with_kernels(server: ServerState) -> ServerState:
        if not server.ready:
            return server
        async with gate:
            kernels = await server_kernels(client, target, server.username, server.course)
        return ServerState(**{**server.__dict__, "kernels": kernels})

    return list(await asyncio.gather(*(with_kernels(s) for s in servers)))


def target_from_settings(settings: Any, server_tokens: ServerTokens) -> CensusTarget:
    """The census target of the service's settings (ServiceSettings)."""
    proxy = settings.operations.proxy_url.rstrip("/")
    return CensusTarget(
        api_url=settings.api_url,
        proxy_url=proxy,
        base_url=settings.base_url,
        token=settings.api_token,
        server_tokens=server_tokens,
        subdomain_host=settings.subdomain_host,
    )
