"""Bringing a stop notice (monitor/stop_notices.py) to the student's JupyterLab.

The service posts only the notice's id to the student's own server
(`coursehub/lab/notices`, student/lab), through the proxy, with a token that opens that
one server (monitor/server_tokens.py) and only to a server the hub lists as running for
that course. The server then fetches the notice here with its own token: a notice is
given only to the student it was written for, so a page shows only what the service
wrote, and an id posted to a server by anyone else leads nowhere.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request

from coursehub.core.subdomains import host_header
from coursehub.monitor.census import target_from_settings
from coursehub.monitor.server_calls import ask_server
from coursehub.monitor.stop_notices import StopNotice
from coursehub.service.auth import api_user
from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser

log = logging.getLogger("coursehub.service")
router = APIRouter()

NOTICE_ID = re.compile(r"^[0-9a-f]{32}$")
# The student's server waits up to 5 s for an open page to save its notebooks before
# it answers a server notice (student/lab ACK_WAIT), and asks us for the notice first.
DELIVERY_TIMEOUT = 15.0


async def deliver(request: Request, notice: StopNotice) -> bool:
    """Post `notice`'s id to its student's server; whether the server took it. A
    server that cannot be told is still stopped: the notice is a courtesy."""
    context = context_of(request.app)
    target = target_from_settings(context.settings, context.server_tokens)
    token = await context.server_tokens.token(context.hub_api, notice.username, notice.course)
    if token is None:
        return False
    url = f"{target.server_url(notice.username, notice.course)}coursehub/lab/notices"
    headers = {
        **host_header(context.settings.subdomain_host, notice.username),
        "Authorization": f"token {token}",
    }
    try:
        # the student's server answers: bounded in time and size
        response = await ask_server(
            context.hub_api,
            "POST",
            url,
            json={"id": notice.id},
            headers=headers,
            deadline=DELIVERY_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        log.info("no stop notice for %s/%s: %s", notice.username, notice.course, exc)
        return False
    if response.status_code in (401, 403):
        context.server_tokens.forget(notice.username, notice.course)
    if response.status_code != 200:
        # a server started before this version has no coursehub/lab: 404
        log.info(
            "stop notice for %s/%s: HTTP %s", notice.username, notice.course, response.status_code
        )
        return False
    return True


@router.get("/lab/notices/{notice_id}", include_in_schema=False)
async def notice_for_server(
    request: Request, notice_id: str, course: str, user: Annotated[HubUser, Depends(api_user)]
) -> dict[str, Any]:
    """A notice, for the server of the student it was written for (their own token)."""
    if not NOTICE_ID.match(notice_id):
        raise ApiError(404, "No such notice.")
    store = context_of(request.app).stop_notices
    notice = await asyncio.to_thread(store.get, notice_id, user.name, course)
    if notice is None:
        raise ApiError(404, "No such notice.")
    return notice.as_json()
