"""The course's running servers, for its staff: who runs what, busy and runaway
kernels (busy longer than idle.runaway_after), servers on an older environment; stop a
kernel, stop a server, restart the idle servers that have the older environment.

Stopping never removes anything: the student's workspace stays and their next open
starts a fresh server (with the course's current environment).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse

from coursehub.core.subdomains import host_header
from coursehub.courses.build import env_dir
from coursehub.monitor import kernel_watch
from coursehub.monitor.census import (
    ServerState,
    running_servers,
    server_kernels,
    target_from_settings,
)
from coursehub.monitor.rollout import environment_built_at, older_environment, restartable
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import (
    STAFF_ROLES,
    course_for,
)
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()

KERNEL_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
DONE = {
    "kernel": "The kernel was stopped.",
    "server": "The server was stopped; the student's files are kept.",
    "restarted": "Idle servers with the older environment were stopped: {n}.",
}


@dataclass(frozen=True)
class KernelRow:
    id: str
    name: str
    state: str
    busy_for: timedelta | None  # None: not busy, or not yet timed by the monitor
    runaway: bool


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
) -> list[ServerRow]:
    """The page's rows; `busy_since` is the monitor's watch keyed (username, kernel)."""
    rows = []
    for s in sorted(servers, key=lambda s: s.username):
        kernels = None
        if s.kernels is not None:
            kernels = []
            for k in s.kernels:
                since = busy_since.get((s.username, k.id)) if k.execution_state == "busy" else None
                busy_for = now - since if since is not None else None
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


async def _staff_of(request: Request, user: HubUser, course: str) -> Any:
    content, role = await asyncio.to_thread(course_for, request, user, course, STAFF_ROLES)
    return content


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


def _runaway_after(request: Request) -> timedelta:
    return timedelta(seconds=context_of(request.app).settings.operations.idle.runaway_after)


def _servers_url(request: Request, course: str) -> str:
    return f"{context_of(request.app).settings.service_prefix}course/{quote(course)}/staff/servers"


@router.get("/course/{course}/staff/servers", response_class=HTMLResponse, include_in_schema=False)
async def servers_page(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content = await _staff_of(request, user, course)
    servers = await course_servers(request, course)
    watched = await asyncio.to_thread(
        kernel_watch.watched, context_of(request.app).database, course
    )
    busy_since = {(k.username, k.kernel_id): k.busy_since for k in watched}
    built_at = environment_built_at(env_dir(context_of(request.app).layout, course))
    now = datetime.now(UTC)
    rows = server_rows(servers, busy_since, _runaway_after(request), built_at, now)
    done = request.query_params.get("done", "")
    count = request.query_params.get("n", "0")
    notice = DONE.get(done, "").format(n=int(count) if count.isdigit() else 0)
    course_url = f"{context_of(request.app).settings.service_prefix}course/{quote(course)}"
    return render(
        request,
        "staff/servers.html",
        user=user,
        course=content,
        rows=rows,
        built_at=built_at,
        runaway_after=_runaway_after(request),
        restartable=sum(r.restartable for r in rows),
        notice=notice,
        now=now,
        duration=duration,
        quote=quote,
        course_url=course_url,
        servers_url=_servers_url(request, course),
    )


async def _stop_server(request: Request, username: str, course: str) -> None:
    settings = context_of(request.app).settings
    url = f"{settings.api_url}/users/{quote(username, safe='')}/servers/{quote(course, safe='')}"
    try:
        # no body: the named server is stopped, never removed (the workspace stays)
        response = await context_of(request.app).hub_api.delete(
            url, headers={"Authorization": f"token {settings.api_token}"}
        )
    except httpx.HTTPError as exc:
        log.warning("could not stop %s/%s: %s", username, course, exc)
        raise ApiError(503, "The hub did not answer; try again in a moment.") from None
    if response.status_code == 404:
        raise ApiError(404, "That server is not running.")
    if response.status_code == 403:
        raise ApiError(403, "The hub does not let coursehub stop this server.")
    if response.status_code not in (202, 204):
        log.warning("stopping %s/%s: HTTP %s", username, course, response.status_code)
        raise ApiError(502, "The hub could not stop this server.")
    await asyncio.to_thread(
        kernel_watch.forget_server, context_of(request.app).database, username, course
    )


@router.post("/course/{course}/staff/servers/{username}/stop", include_in_schema=False)
async def stop_server(
    request: Request, course: str, username: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    await _staff_of(request, user, course)
    await _stop_server(request, username, course)
    log.info("%s stopped the %s server of %s", user.name, course, username)
    return RedirectResponse(f"{_servers_url(request, course)}?done=server", 303)


@router.post(
    "/course/{course}/staff/servers/{username}/kernels/{kernel_id}/stop", include_in_schema=False
)
async def stop_kernel(
    request: Request,
    course: str,
    username: str,
    kernel_id: str,
    user: Annotated[HubUser, Depends(form_user)],
) -> RedirectResponse:
    await _staff_of(request, user, course)
    if not KERNEL_ID.match(kernel_id):
        raise ApiError(400, "That is not a kernel id.")
    context = context_of(request.app)
    target = target_from_settings(context.settings, context.server_tokens)
    # the student's server is asked with a token that opens that server only
    token = await context.server_tokens.token(context.hub_api, username, course)
    if token is None:
        raise ApiError(503, "The hub gave no access to the student's server; try again.")
    url = f"{target.server_url(username, course)}api/kernels/{kernel_id}"
    try:
        response = await context.hub_api.delete(
            url,
            headers={
                **host_header(context.settings.subdomain_host, username),
                "Authorization": f"token {token}",
            },
        )
    except httpx.HTTPError as exc:
        log.warning("could not stop kernel %s of %s/%s: %s", kernel_id, username, course, exc)
        raise ApiError(503, "The student's server did not answer; try again.") from None
    if response.status_code in (401, 403):
        context.server_tokens.forget(username, course)
    if response.status_code == 404:
        raise ApiError(404, "That kernel is not running any more.")
    if response.status_code != 204:
        log.warning("stopping kernel of %s/%s: HTTP %s", username, course, response.status_code)
        raise ApiError(502, "The student's server could not stop this kernel.")
    log.info("%s stopped kernel %s of %s/%s", user.name, kernel_id, username, course)
    return RedirectResponse(f"{_servers_url(request, course)}?done=kernel", 303)


@router.post("/course/{course}/staff/servers/restart-idle", include_in_schema=False)
async def restart_idle(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    await _staff_of(request, user, course)
    built_at = environment_built_at(env_dir(context_of(request.app).layout, course))
    # decided on a fresh look at the kernels, not on what the page showed
    chosen = [s for s in await course_servers(request, course) if restartable(s, built_at)]
    stopped = 0
    for server in chosen:
        try:
            await _stop_server(request, server.username, course)
        except ApiError as exc:  # one refusal does not keep the others running
            log.warning("restart-idle: %s/%s: %s", server.username, course, exc.message)
            continue
        stopped += 1
    log.info("%s restarted %d idle %s servers on the older environment", user.name, stopped, course)
    return RedirectResponse(f"{_servers_url(request, course)}?done=restarted&n={stopped}", 303)
