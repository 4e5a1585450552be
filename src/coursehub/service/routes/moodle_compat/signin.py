"""The plugin's sign-in link, opened in the Moodle page's frame:
<prefix>compat/moodle-jupyter/hub/user-redirect/lab/tree/{moodle course}/{activity}/{file}
?auth_token=<plugin JWT>

The plugin's token never expires and is in the page, so it is not a hub sign-in: it is
checked here and exchanged for a coursehub sign-in link (auth.jwt: valid a minute,
used once), which lands on `open/...`: the student's course server (started with the
hub's progress page if needed), the notebook moved in if it was waiting (pending.py),
and JupyterLab open on it. A default server is never used.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jwt
from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from coursehub.config.secrets import read_secret
from coursehub.core.errors import SetupError
from coursehub.core.subdomains import server_url
from coursehub.courses.servers import workspace_for
from coursehub.courses.workspace import WorkspaceError
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.course_access import require_role, student_of
from coursehub.service.errors import ApiError, error_response
from coursehub.service.identity import HubUser
from coursehub.service.routes.courses.links import server_ready
from coursehub.service.routes.moodle_compat import pending
from coursehub.service.routes.moodle_compat.credentials import CompatConfigError
from coursehub.service.routes.moodle_compat.mapping import (
    WORKSPACE_FOLDER,
    course_of,
    split_contents_path,
    token_user,
)

router = APIRouter()
LINK_SECONDS = 60
COMPAT = "compat/moodle-jupyter"


def check_link_secret(app: Any) -> str:
    """auth.jwt's secret, with which the service signs the links it makes."""
    link = context_of(app).settings.grading.signin_link
    if link is None or link.secret_file is None:
        raise CompatConfigError("grading.moodle_compat needs auth.jwt with a secret_file")
    try:
        return read_secret(link.secret_file)
    except OSError as exc:
        raise CompatConfigError(f"auth.jwt.secret_file: {exc.strerror}") from None
    except SetupError as exc:
        raise CompatConfigError(f"auth.jwt.secret_file: {exc}") from None


def _hub_link(request: Request, user: str) -> str:
    """A one-minute auth.jwt token for `user`, signed with the site's own secret."""
    try:
        secret = check_link_secret(request.app)
    except CompatConfigError as exc:
        raise ApiError(500, str(exc)) from None
    link = context_of(request.app).settings.grading.signin_link
    assert link is not None  # checked just now
    now = int(time.time())
    claims = {
        link.username_claim: user,
        "aud": link.audience,
        "iss": link.issuer or "coursehub-moodle-compat",
        "iat": now,
        "exp": now + LINK_SECONDS,
        "jti": secrets.token_hex(8),  # the hub takes each link once: two opens in a second
    }
    return jwt.encode(claims, secret, algorithm="HS256")


@router.get("/hub/user-redirect/lab/tree/{path:path}", include_in_schema=False)
async def sign_in(request: Request, path: str) -> Response:
    try:
        user = token_user(request, request.query_params.get("auth_token"))
        moodle_course, inside = split_contents_path(path)
        if inside == WORKSPACE_FOLDER:
            raise ApiError(400, "it names no notebook (…/lab/tree/<course>/<activity>/<file>)")
        course_of(request, moodle_course)
        token = await asyncio.to_thread(_hub_link, request, user)
    except ApiError as exc:
        return error_response(request, exc.status_code, f"This Moodle link cannot open: {exc}")
    settings = context_of(request.app).settings
    rest = inside.removeprefix(f"{WORKSPACE_FOLDER}/")
    after = f"{settings.service_prefix}{COMPAT}/open/{quote(moodle_course)}/{quote(rest)}"
    query = urlencode({"auth_token": token, "next": after})
    return RedirectResponse(f"{settings.hub_prefix}jwt_login?{query}", status_code=302)


@router.get("/open/{moodle_course}/{rest:path}", include_in_schema=False)
async def open_notebook(
    request: Request, moodle_course: str, rest: str, user: Annotated[HubUser, Depends(page_user)]
) -> Response:
    try:
        _, inside = split_contents_path(f"{moodle_course}/{rest}")
        course = course_of(request, moodle_course)
    except ApiError as exc:
        return error_response(request, exc.status_code, str(exc))
    store = context_of(request.app).courses
    await asyncio.to_thread(require_role, store, user, course)
    settings = context_of(request.app).settings
    if not await server_ready(request, user.name, course):
        back = quote(request.url.path)
        spawn = f"{settings.hub_prefix}spawn/{quote(user.name)}/{quote(course)}?next={back}"
        return RedirectResponse(spawn, status_code=302)
    try:
        student = student_of(request, user.name)
        workspace = workspace_for(student.home, course)
        data_dir = Path(settings.data_dir)
        await asyncio.to_thread(pending.place, data_dir, user.name, course, student, workspace)
    except WorkspaceError as exc:
        return error_response(request, 500, f"Your notebook could not be placed: {exc}.")
    server = server_url(settings.base_url, settings.subdomain_host, user.name, course)
    return RedirectResponse(f"{server}lab/tree/{quote(inside)}", status_code=302)
