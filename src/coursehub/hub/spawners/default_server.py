"""A student's servers are course servers: the hub's spawn page for the default
(unnamed) server shows the way to their courses instead of starting a server.

JupyterHub starts a server on GET /hub/spawn when the spawner has no options form, and
every "My server" / "Launch server" link of its pages leads there. Giving the default
server an options form turns that GET into a page (hub/templates/spawn.html renders it
as a link to My courses and goes there at once), so no link, redirect or bookmark
starts a server nobody's course uses. An explicit request (the REST API, or a form
posted on purpose) still may.
"""

from __future__ import annotations

import html
from typing import Any

from coursehub.core.roles import SERVICE_NAME

# What hub/templates/spawn.html looks for in the options form.
COURSES_INSTEAD_ID = "coursehub-courses-instead"
COURSES_URL = f"/services/{SERVICE_NAME}/"


def courses_instead_form(courses_url: str) -> str:
    """The default server's "options form": where the student's servers are."""
    url = html.escape(courses_url, quote=True)
    return (
        f'<p id="{COURSES_INSTEAD_ID}" data-courses-url="{url}">Your servers belong to '
        f'your courses: open a course from <a href="{url}">My courses</a> to start its '
        "server.</p>"
    )


class CoursesInsteadOfDefaultServer:
    """Mixed into each coursehub spawner, before JupyterHub's Spawner class."""

    name: str

    async def get_options_form(self) -> Any:
        if not self.name:
            return courses_instead_form(COURSES_URL)
        return await super().get_options_form()  # type: ignore[misc]
