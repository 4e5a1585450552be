"""The course's running servers, for its staff: who runs what (each kernel's notebook
and age), busy and runaway kernels (busy longer than idle.runaway_after), servers on an
older environment. Stopping a kernel or a server, and restarting the idle servers that
have the older environment, are in server_stops.py.

Stopping never removes anything: the student's workspace stays and their next open
starts a fresh server (with the course's current environment).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from coursehub.core.subdomains import host_header
from coursehub.courses.build import env_dir
from coursehub.monitor import kernel_watch
from coursehub.monitor.census import (
    MAX_KERNELS,
    CensusTarget,
    ServerState,
    parse_time,
    running_servers,
    server_kernels,
    target_from_settings,
)
from coursehub.monitor.rollout import environment_built_at, older_environment, restartable
from coursehub.monitor.server_calls import ask_server
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import (
    STAFF_ROLES,
    course_for,
)
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()

DONE = {
    "kernel": "The kernel was stopped.",
    "server": "The server was stopped; the student's files are kept.",
    "restarted": "Idle servers with the older environment were stopped: {n}.",
}


@dataclass(frozen=True)
class KernelDetail:
    """What the server's coursehub extension says of a kernel beyond its state."""

    path: str  # the notebook whose session owns it ("" for a console or unknown)
    started: datetime | None


@dataclass(frozen=True)
class KernelRow:
    id: str
    name: str
    state: str
    busy_for: timedelta | None  # None: not busy, or not yet timed by the monitor
    runaway: bool
    path: str = ""
    age: timedelta | None = None


@dataclass(frozen=True)
class ServerRow:
    username: str
    ready: bool
    started: datetime | None
    last_activity: datetime | None
    kernels: list[KernelRow] | None  # None: the server did not answer
    older_environment: bool
    restartable: bool

    @property
    def busy(self) -> int:
        return sum(k.state == "busy" for k in self.kernels or ())

    @property
    def runaway(self) -> list[KernelRow]:
        return [k for k in self.kernels or () if k.runaway]


def server_rows(
    servers: list[ServerState],
    busy_since: dict[tuple[str, str], datetime | None],
    runaway_after: timedelta,
    built_at: datetime | None,
    now: datetime,
    details: dict[tuple[str, str], KernelDetail] | None = None,
) -> list[ServerRow]:
    """The page's rows; `busy_since` is the monitor's watch and `details` the servers'
    own word on their kernels, both keyed (username, kernel)."""
    details = details or {}
    rows = []
    for s in sorted(servers, key=lambda s: s.username):
        kernels = None
        if s.kernels is not None:
            kernels = []
            for k in s.kernels:
                since = busy_since.get((s.username, k.id)) if k.execution_state == "busy" else None
                busy_for = now - since if since is not None else None
                detail = details.get((s.username, k.id), KernelDetail("", None))
                kernels.append(
                    KernelRow(
                        id=k.id,
                        name=k.name,
                        state=k.execution_state,
                        busy_for=busy_for,
                        runaway=bool(
                            busy_for is not None
                            and runaway_after.total_seconds() > 0
                            and busy_for >= runaway_after
                        ),
                        path=detail.path,
                        age=now - detail.started if detail.started else None,
                    )
                )
        rows.append(
            ServerRow(
                username=s.username,
                ready=s.ready,
                started=s.started,
                last_activity=s.last_activity,
                kernels=kernels,
                older_environment=older_environment(s, built_at),
                restartable=restartable(s, built_at),
            )
        )
    return rows


def duration(td: timedelta | None) -> str:
    if td is None:
        return ""
    s = max(0, int(td.total_seconds()))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


async def staff_of(request: Request, user: HubUser, course: str) -> Any:
    content, role = await asyncio.to_thread(course_for, request, user, course, STAFF_ROLES)
    return content


async def kernel_details(
    client: httpx.AsyncClient, target: CensusTarget, username: str, course: str
) -> dict[str, KernelDetail]:
    """Each kernel's notebook and start, from the server's own coursehub extension
    (student/lab), asked with a token that opens that one server; {} when it does not
    answer (a server started by an older coursehub)."""
    token = await target.server_tokens.token(client, username, course)
    if token is None:
        return {}
    headers = {**host_header(target.subdomain_host, username), "Authorization": f"token {token}"}
    try:
        # the student's server answers: bounded in time and size
        response = await ask_server(
            client,
            "GET",
            f"{target.server_url(username, course)}coursehub/lab/kernels",
            headers=headers,
        )
        body = response.json() if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError):
        return {}
    found = {}
    for k in body[:MAX_KERNELS] if isinstance(body, list) else []:
        if isinstance(k, dict) and isinstance(k.get("id"), str):
            path = k.get("path")
            started = parse_time(k.get("started"))  # the student's server's word: checked
            found[k["id"][:64]] = KernelDetail(
                path=path[:1000] if isinstance(path, str) else "",
                started=started if started and started.tzinfo else None,
            )
    return found


async def course_servers(request: Request, course: str) -> list[ServerState]:
    """The course's running servers, with their kernels (asked of each ready one)."""
    context = context_of(request.app)
    client = context.hub_api
    target = target_from_settings(context.settings, context.server_tokens)
    try:
        everyone = await running_servers(client, target)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        log.warning("servers page: could not list servers: %s", exc)
        raise ApiError(503, "The hub did not answer; try again in a moment.") from None
    servers = [s for s in everyone if s.course == course]

    async def with_kernels(s: ServerState) -> ServerState:
        if not s.ready:
            return s
        kernels = await server_kernels(client, target, s.username, s.course)
        return ServerState(**{**s.__dict__, "kernels": kernels})

    return list(await asyncio.gather(*(with_kernels(s) for s in servers)))


async def all_details(
    request: Request, servers: list[ServerState]
) -> dict[tuple[str, str], KernelDetail]:
    """kernel_details of every server that answered for its kernels, keyed (username,
    kernel id)."""
    context = context_of(request.app)
    target = target_from_settings(context.settings, context.server_tokens)
    asked = [s for s in servers if s.kernels]
    answers = await asyncio.gather(
        *(kernel_details(context.hub_api, target, s.username, s.course) for s in asked)
    )
    return {
        (s.username, kid): detail
        for s, found in zip(asked, answers, strict=True)
        for kid, detail in found.items()
    }


def runaway_after(request: Request) -> timedelta:
    return timedelta(seconds=context_of(request.app).settings.operations.idle.runaway_after)


def servers_url(request: Request, course: str) -> str:
    return f"{context_of(request.app).settings.service_prefix}course/{quote(course)}/staff/servers"


@router.get("/course/{course}/staff/servers", response_class=HTMLResponse, include_in_schema=False)
async def servers_page(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content = await staff_of(request, user, course)
    servers = await course_servers(request, course)
    details = await all_details(request, servers)
    watched = await asyncio.to_thread(
        kernel_watch.watched, context_of(request.app).database, course
    )
    busy_since = {(k.username, k.kernel_id): k.busy_since for k in watched}
    built_at = environment_built_at(env_dir(context_of(request.app).layout, course))
    now = datetime.now(UTC)
    rows = server_rows(servers, busy_since, runaway_after(request), built_at, now, details)
    done = request.query_params.get("done", "")
    count = request.query_params.get("n", "0")
    number = count.isascii() and count.isdigit() and len(count) < 10  # not '²', not 10**5000
    notice = DONE.get(done, "").format(n=int(count) if number else 0)
    course_url = f"{context_of(request.app).settings.service_prefix}course/{quote(course)}"
    return render(
        request,
        "staff/servers.html",
        user=user,
        course=content,
        rows=rows,
        built_at=built_at,
        runaway_after=runaway_after(request),
        restartable=sum(r.restartable for r in rows),
        notice=notice,
        now=now,
        duration=duration,
        quote=quote,
        course_url=course_url,
        servers_url=servers_url(request, course),
    )
