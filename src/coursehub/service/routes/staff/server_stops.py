"""Stopping a student's kernel or server from the staff servers page, and restarting
the idle servers that have an older environment.

Each stop is asked first on a page of its own that says what it does (the button on
the servers page leads there; the form there does it). The student is told in their
JupyterLab (stop_notices.py): for a server, before it stops, so that their open page
saves its notebooks first; for a kernel, once it is stopped.

Stopping never removes anything: the student's workspace stays and their next open
starts a fresh server (with the course's current environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import UTC, datetime
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
    parse_time,
    server_kernels,
    target_from_settings,
)
from coursehub.monitor.rollout import environment_built_at, restartable
from coursehub.monitor.server_calls import ask_server
from coursehub.monitor.stop_notices import kernel_message, server_message
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import course_for
from coursehub.service.errors import ApiError
from coursehub.service.forms import form_user
from coursehub.service.identity import HubUser
from coursehub.service.routes.staff.servers_page import (
    KernelDetail,
    course_servers,
    duration,
    kernel_details,
    servers_url,
    staff_of,
)
from coursehub.service.routes.staff.stop_notices import deliver
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")
router = APIRouter()

KERNEL_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
SERVER_STOP = "/course/{course}/staff/servers/{username}/stop"
KERNEL_STOP = "/course/{course}/staff/servers/{username}/kernels/{kernel_id}/stop"
RESTART_IDLE = "/course/{course}/staff/servers/restart-idle"


async def _running(request: Request, course: str, username: str) -> ServerState:
    """`username`'s server of `course` as the hub sees it now, with its kernels; 404
    when the hub runs no such server (nothing is then asked of, or told to, anyone)."""
    context = context_of(request.app)
    settings = context.settings
    try:
        response = await context.hub_api.get(
            f"{settings.api_url}/users/{quote(username, safe='')}",
            headers={"Authorization": f"token {settings.api_token}"},
        )
    except httpx.HTTPError as exc:
        log.warning("could not ask the hub about %s: %s", username, exc)
        raise ApiError(503, "The hub did not answer; try again in a moment.") from None
    model = None
    if response.status_code == 200:
        with contextlib.suppress(ValueError, AttributeError):
            model = (response.json().get("servers") or {}).get(course)
    if not isinstance(model, dict):
        raise ApiError(404, f"{username}'s server for this course is not running.")
    ready = bool(model.get("ready"))
    target = target_from_settings(settings, context.server_tokens)
    kernels = await server_kernels(context.hub_api, target, username, course) if ready else None
    started, active = parse_time(model.get("started")), parse_time(model.get("last_activity"))
    return ServerState(username, course, ready, started, active, kernels)


async def _details(request: Request, username: str, course: str) -> dict[str, KernelDetail]:
    context = context_of(request.app)
    target = target_from_settings(context.settings, context.server_tokens)
    return await kernel_details(context.hub_api, target, username, course)


def _confirm(request: Request, user: HubUser, content: object, **page: Any) -> HTMLResponse:
    return render(
        request,
        "staff/stop_confirm.html",
        user=user,
        course=content,
        duration=duration,
        now=datetime.now(UTC),
        **page,
    )


# --- a server --------------------------------------------------------------------


@router.get(SERVER_STOP, response_class=HTMLResponse, include_in_schema=False)
async def confirm_server_stop(
    request: Request, course: str, username: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content = await staff_of(request, user, course)
    server = await _running(request, course, username)
    details = await _details(request, username, course)
    kernels = [(k, details.get(k.id)) for k in server.kernels or ()]
    return _confirm(
        request,
        user,
        content,
        what="server",
        student=username,
        server=server,
        kernels=kernels,
        action=f"{servers_url(request, course)}/{quote(username, safe='')}/stop",
        back=servers_url(request, course),
    )


async def tell_server_stop(
    request: Request, username: str, course: str, by: str, restart: bool = False
) -> bool:
    """Tell the student their server is about to stop; their open page saves its
    notebooks before the server answers. Whether the server took the notice."""
    notices = context_of(request.app).stop_notices
    message = server_message(by, course, restart)
    notice = await asyncio.to_thread(notices.write, username, course, "server", by, message)
    return await deliver(request, notice)


async def stop_server(request: Request, username: str, course: str) -> None:
    """Stop the server (never remove it: the workspace stays)."""
    settings = context_of(request.app).settings
    url = f"{settings.api_url}/users/{quote(username, safe='')}/servers/{quote(course, safe='')}"
    try:
        # no body: the named server is stopped, never removed
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


@router.post(SERVER_STOP, include_in_schema=False)
async def stop_server_form(
    request: Request, course: str, username: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    await staff_of(request, user, course)
    await _running(request, course, username)  # only a running server is told anything
    told = await tell_server_stop(request, username, course, user.name)
    await stop_server(request, username, course)
    log.info("%s stopped the %s server of %s (told: %s)", user.name, course, username, told)
    return RedirectResponse(f"{servers_url(request, course)}?done=server", 303)


# --- a kernel --------------------------------------------------------------------


@router.get(KERNEL_STOP, response_class=HTMLResponse, include_in_schema=False)
async def confirm_kernel_stop(
    request: Request,
    course: str,
    username: str,
    kernel_id: str,
    user: Annotated[HubUser, Depends(page_user)],
) -> HTMLResponse:
    content = await staff_of(request, user, course)
    if not KERNEL_ID.match(kernel_id):
        raise ApiError(400, "That is not a kernel id.")
    server = await _running(request, course, username)
    kernel = next((k for k in server.kernels or () if k.id == kernel_id), None)
    if kernel is None:
        raise ApiError(404, "That kernel is not running any more.")
    detail = (await _details(request, username, course)).get(kernel_id)
    base = f"{servers_url(request, course)}/{quote(username, safe='')}"
    return _confirm(
        request,
        user,
        content,
        what="kernel",
        student=username,
        server=server,
        kernel=kernel,
        detail=detail,
        action=f"{base}/kernels/{quote(kernel_id, safe='')}/stop",
        back=servers_url(request, course),
    )


@router.post(KERNEL_STOP, include_in_schema=False)
async def stop_kernel(
    request: Request,
    course: str,
    username: str,
    kernel_id: str,
    user: Annotated[HubUser, Depends(form_user)],
) -> RedirectResponse:
    await staff_of(request, user, course)
    if not KERNEL_ID.match(kernel_id):
        raise ApiError(400, "That is not a kernel id.")
    context = context_of(request.app)
    target = target_from_settings(context.settings, context.server_tokens)
    # the student's server is asked with a token that opens that server only
    token = await context.server_tokens.token(context.hub_api, username, course)
    if token is None:
        raise ApiError(503, "The hub gave no access to the student's server; try again.")
    detail = (await _details(request, username, course)).get(kernel_id)
    url = f"{target.server_url(username, course)}api/kernels/{kernel_id}"
    try:
        # the student's server answers: bounded in time and size
        response = await ask_server(
            context.hub_api,
            "DELETE",
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
    path = detail.path if detail else ""
    notice = await asyncio.to_thread(
        context.stop_notices.write,
        username,
        course,
        "kernel",
        user.name,
        kernel_message(user.name, path),
        path,
    )
    told = await deliver(request, notice)
    log.info(
        "%s stopped kernel %s of %s/%s (told: %s)", user.name, kernel_id, username, course, told
    )
    return RedirectResponse(f"{servers_url(request, course)}?done=kernel", 303)


# --- idle servers with the older environment ----------------------------------------


async def _restartable(request: Request, course: str) -> list[ServerState]:
    built_at = environment_built_at(env_dir(context_of(request.app).layout, course))
    # decided on a fresh look at the kernels, not on what a page showed
    return [s for s in await course_servers(request, course) if restartable(s, built_at)]


@router.get(RESTART_IDLE, response_class=HTMLResponse, include_in_schema=False)
async def confirm_restart_idle(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    content = await staff_of(request, user, course)
    return _confirm(
        request,
        user,
        content,
        what="restart",
        servers=await _restartable(request, course),
        action=f"{servers_url(request, course)}/restart-idle",
        back=servers_url(request, course),
    )


@router.post(RESTART_IDLE, include_in_schema=False)
async def restart_idle(
    request: Request, course: str, user: Annotated[HubUser, Depends(form_user)]
) -> RedirectResponse:
    await staff_of(request, user, course)
    chosen = await _restartable(request, course)
    # every student told at once (each open page saves its notebooks), then the stops
    await asyncio.gather(
        *(tell_server_stop(request, s.username, course, user.name, True) for s in chosen)
    )
    stopped = 0
    for server in chosen:
        try:
            await stop_server(request, server.username, course)
        except ApiError as exc:  # one refusal does not keep the others running
            log.warning("restart-idle: %s/%s: %s", server.username, course, exc.message)
            continue
        stopped += 1
    log.info("%s restarted %d idle %s servers on the older environment", user.name, stopped, course)
    return RedirectResponse(f"{servers_url(request, course)}?done=restarted&n={stopped}", 303)


# --- why a server is not running, for the hub's page --------------------------------


@router.get("/course/{course}/stopped", response_class=HTMLResponse, include_in_schema=False)
async def stopped_frame(
    request: Request, course: str, user: Annotated[HubUser, Depends(page_user)]
) -> HTMLResponse:
    """A frame of the hub's "Server not running" page: whether course staff stopped the
    signed-in person's server of `course` lately (empty otherwise). Like every course
    route, not found for a course that is not theirs."""
    await asyncio.to_thread(course_for, request, user, course)
    store = context_of(request.app).stop_notices
    notice = await asyncio.to_thread(store.latest, user.name, course, "server")
    return render(request, "staff/stopped_frame.html", notice=notice, course_name=course)
