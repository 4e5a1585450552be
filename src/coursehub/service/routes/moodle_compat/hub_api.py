"""The JupyterHub REST calls of moodle-mod_jupyter's check_user_status (classes/jupyterhub.php),
under <prefix>compat/moodle-jupyter/hub/api/:

- GET  users/{user}         200 `{"name", "server": <courses page>}` or 404
- POST users/{user}         a student account that signs in by link (method jwt); 201
- POST users/{user}/server  202, nothing started: the plugin asks for a default server;
                            the student's course server starts when they open the link

Answered with the plugin's API token only (credentials.py). `server` is never null,
so the plugin does not ask for a default server at all.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.routes.moodle_compat.mapping import (
    checked_user,
    plugin_server,
    require_plugin_account,
    section,
)

router = APIRouter()
Plugin = Annotated[None, Depends(plugin_server)]


def _model(request: Request, name: str) -> dict[str, object]:
    home = context_of(request.app).settings.service_prefix
    return {"kind": "user", "name": name, "admin": False, "server": home, "servers": {}}


def _account_exists(request: Request, name: str) -> bool:
    from coursehub.accounts.store import AccountStore

    return AccountStore(context_of(request.app).database).get(name) is not None


@router.get("/hub/api/users/{user}")
async def get_user(request: Request, user: str, _: Plugin) -> JSONResponse:
    name = checked_user(user)
    await asyncio.to_thread(require_plugin_account, request, name)
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


async def ensure_enrolled(request: Request, user: str, course: str) -> None:
    """The plugin only shows an activity to the Moodle course's participants: enrol
    `user` in the linked course as a student unless they are in it (or this is off)."""
    store = context_of(request.app).courses
    if await asyncio.to_thread(store.role_of, course, user) is not None:
        return
    if not section(request.app).enrol_students:
        raise ApiError(403, f"{user!r} is not enrolled in {course!r}; enrol them first.")
    await asyncio.to_thread(store.enrol, course, user, "student")
