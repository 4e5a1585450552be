"""JupyterHub's ``user_redirect_hook``: where ``/hub/user-redirect/…`` links lead.

JupyterHub sends such a link to the default server's spawn page, which no course uses
(hub/spawners/default_server.py). Links written for a hub (``user-redirect/lab/tree/…``)
or naming a course server (``user-redirect/<course>/…``) go to the coursehub service's
resume page instead, which starts the student's course server and goes on, or shows
My courses.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from coursehub.core.roles import SERVICE_NAME


def user_redirect_hook(path: str, request: Any, user: Any, base_url: str) -> str:
    """The address for ``/hub/user-redirect/<path>?<query>`` (JupyterHub's signature)."""
    target = f"{user.prefix}{path.lstrip('/')}"
    if request.query:
        target += f"?{request.query}"
    return f"{base_url}services/{SERVICE_NAME}/resume?next={quote(target, safe='')}"
