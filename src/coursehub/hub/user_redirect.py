"""JupyterHub's ``user_redirect_hook``: where ``/hub/user-redirect/…`` links lead.

JupyterHub sends such a link to the default server's spawn page, which no course uses
(hub/spawners/default_server.py). Links written for a hub (``user-redirect/lab/tree/…``)
or naming a course server (``user-redirect/<course>/…``) go to the coursehub service's
resume page instead, which starts the student's course server and goes on, or shows
My courses. ``user-redirect/coursehub:open/<course>/<notebook>`` is a course notebook
link the hub opens itself (hub/course_links.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from coursehub.core.link_routes import OPEN_PREFIX
from coursehub.core.roles import SERVICE_NAME
from coursehub.hub.course_links import LinkSite, open_link

Hook = Callable[[str, Any, Any, str], Awaitable[str]]


def user_redirect_hook(path: str, request: Any, user: Any, base_url: str) -> str:
    """The address for ``/hub/user-redirect/<path>?<query>`` (JupyterHub's signature)."""
    target = f"{user.prefix}{path.lstrip('/')}"
    if request.query:
        target += f"?{request.query}"
    return f"{base_url}services/{SERVICE_NAME}/resume?next={quote(target, safe='')}"


def user_redirect_hook_for(site: LinkSite) -> Hook:
    """The hook of a site whose hub opens course notebook links itself."""

    async def hook(path: str, request: Any, user: Any, base_url: str) -> str:
        rest = path.lstrip("/")
        if rest.startswith(OPEN_PREFIX):
            return await open_link(site, user, rest[len(OPEN_PREFIX) :], request.query, base_url)
        return user_redirect_hook(path, request, user, base_url)

    return hook
