"""Where a page of a course server leads when the hub does not know that server yet.

JupyterHub reads ``/user/NAME/SERVER/…`` as a named server only once that server
exists; before a student's first start of a course server, a bookmark, a published
link naming the server (``/hub/user-redirect/COURSE/git-pull?…``) or a course server
page lands on the default server's spawn page instead. That page
(hub/templates/spawn.html) sends the student here with its own address, and
``/hub/user-redirect/…`` links come here too (hub/user_redirect.py): a ``next``
inside one of the student's own course servers starts that course's server and goes
on; anything else leads to My courses.
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse

from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import course_role
from coursehub.service.identity import HubUser

router = APIRouter()


def course_server_target(base_url: str, username: str, next_url: str) -> tuple[str, str] | None:
    """(course, path) when `next_url` is a page of `username`'s server named like a
    course (``{base_url}user/{username}/{course}/…``); None for anything else."""
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or "\\" in next_url:
        return None
    own = f"{base_url}user/{quote(username)}/"
    if not parts.path.startswith(own):
        return None
    course = parts.path[len(own) :].partition("/")[0]
    course = unquote(course)
    if not course or "/" in course or course in {".", ".."}:
        return None
    return course, next_url


@router.get("/resume", include_in_schema=False)
async def resume(
    request: Request,
    user: Annotated[HubUser, Depends(page_user)],
) -> RedirectResponse:
    """`next`: a page of the student's server (hub/user_redirect.py); or `from`: the
    address of the hub page that sent the student here, holding such a `next`."""
    settings = context_of(request.app).settings
    home = settings.service_prefix
    next_url = request.query_params.get("next", "")
    if not next_url:  # from the default server's spawn page: its own `next`
        spawn_page = urlsplit(request.query_params.get("from", ""))
        next_url = (parse_qs(spawn_page.query).get("next") or [""])[0]
    target = course_server_target(settings.base_url, user.name, next_url)
    if target is not None and settings.database_url:
        course, page = target
        store = context_of(request.app).courses
        known = await asyncio.to_thread(store.get, course)
        role = await asyncio.to_thread(course_role, store, user, course) if known else None
        if role is not None:
            spawn = f"{settings.hub_prefix}spawn/{quote(user.name)}/{quote(course)}"
            return RedirectResponse(f"{spawn}?next={quote(page, safe='')}", status_code=302)
    return RedirectResponse(home, status_code=302)
