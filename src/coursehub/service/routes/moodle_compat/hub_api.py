"""The JupyterHub REST calls of moodle-mod_jupyter's check_user_status (classes/jupyterhub.php),
under <prefix>compat/moodle-jupyter/hub/api/:

- GET  users/{user}         200 `{"name", "server": <courses page>}` or 404
- POST users/{user}         a student account that signs in by link (method jwt); 201
- POST users/{user}/server  202, nothing started: the plugin asks for a default server,
                            but a course server is started when its notebook is placed

Answered with the plugin's API token only (credentials.py). `server` is never null,
so the plugin does not ask for a default server at all.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.routes.moodle_compat.mapping import checked_user, plugin_server, section

router = APIRouter()
Plugin = Annotated[None, Depends(plugin_server)]
START_SECONDS = 120.0


def _model(request: Request, name: str) -> dict[str, object]:
    home = context_of(request.app).settings.service_prefix
    return {"kind": "user", "name": name, "admin": False, "server": home, "servers": {}}


def _account_exists(request: Request, name: str) -> bool:
    from coursehub.accounts.store import AccountStore

    return AccountStore(context_of(request.app).database).get(name) is not None


@router.get("/hub/api/users/{user}")
async def get_user(request: Request, user: str, _: Plugin) -> JSONResponse:
    name = checked_user(user)
    if not await asyncio.to_thread(_account_exists, request, name):
        raise ApiError(404, f"No user {name!r}.")
    return JSONResponse(_model(request, name))


@router.post("/hub/api/users/{user}")
async def create_user(request: Request, user: str, _: Plugin) -> JSONResponse:
    from coursehub.accounts.signins import AccountSignIns, IdentityConflict

    name = checked_user(user)
    signins = AccountSignIns(context_of(request.app).database)
    try:
        claimed = await asyncio.to_thread(signins.claim, name, "jwt", create=True)
    except IdentityConflict:
        raise ApiError(
            409,
            f"The account {name!r} signs in another way (local, GitHub or LTI); an admin "
            f"can link it: coursehub users link {name} jwt.",
        ) from None
    assert claimed is not None
    return JSONResponse(_model(request, name), status_code=201 if claimed.created else 200)


@router.post("/hub/api/users/{user}/server")
async def start_default_server(request: Request, user: str, _: Plugin) -> JSONResponse:
    checked_user(user)
    return JSONResponse({}, status_code=202)


async def ensure_course_server(request: Request, user: str, course: str) -> None:
    """Enrol `user` in `course` if allowed, then have the hub start their course server
    (with the service's own token) and wait until it is ready: the student's files are
    written as their Unix account, which their first start makes."""
    store = context_of(request.app).courses
    role = await asyncio.to_thread(store.role_of, course, user)
    if role is None:
        if not section(request.app).enrol_students:
            raise ApiError(403, f"{user!r} is not enrolled in {course!r}; enrol them first.")
        await asyncio.to_thread(store.enrol, course, user, "student")
    settings = context_of(request.app).settings
    hub = context_of(request.app).hub_api
    headers = {"Authorization": f"token {settings.api_token}"}
    url = f"{settings.api_url}/users/{quote(user)}"
    response = await hub.get(url, headers=headers)
    if response.status_code == 404:
        await hub.post(url, headers=headers)
    deadline = time.monotonic() + START_SECONDS
    asked = False
    while time.monotonic() < deadline:
        response = await hub.get(url, headers=headers)
        model = (response.json().get("servers") or {}).get(course) if response.is_success else None
        if model and model.get("ready"):
            return
        if not asked and not (model and model.get("pending")):
            started = await hub.post(f"{url}/servers/{quote(course)}", headers=headers)
            if started.status_code >= 400 and started.status_code != 400:
                raise ApiError(502, f"The hub did not start {user}'s {course} server "
                                    f"({started.status_code}).")  # fmt: skip
            asked = True
        await asyncio.sleep(0.5)
    raise ApiError(504, f"{user}'s server for {course} did not start in {START_SECONDS:g} s.")
