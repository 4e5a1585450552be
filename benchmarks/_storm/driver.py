"""Login storm students: sign in at the hub and wait for their own server.

Flow per student, as in a browser on JupyterHub 6.1:

1. GET /hub/login (before the storm): the page sets the anonymous ``_xsrf`` cookie
   and carries the same token in a hidden form field.
2. POST the form (username, password, _xsrf), following redirects: /hub/spawn starts
   the server, waits up to 1 s and then sends the browser on to
   /hub/spawn-pending/<user>, or straight to the server if it was quick.
3. On spawn-pending, open the page's EventSource URL (``progress_url``, which
   carries ``?_xsrf=``: the hub checks XSRF on API GETs unless Sec-Fetch-Mode is
   navigate, and an EventSource sends ``cors``) and read events until
   ``ready`` or ``failed``.
4. Reload spawn-pending as the page's script does; the redirects go through the
   proxy to /user/<user>/, the server's OAuth round trip with the hub, and end on
   /user/<user>/lab. A 200 there is JupyterLab served by the student's server.
5. GET /user/<user>/api/status with the server's ``_xsrf`` cookie as X-XSRFToken,
   as JupyterLab's first API call does: the server's REST API answers.

On coursehub, signing in lands on "My courses" and starts no server: its students
open their course's server there (``/hub/spawn/<user>/<course>``, what the course
page's links lead to), and steps 3 to 5 are about that server.

The clock runs from the moment the login form is submitted to the end of step 5.
"""

from __future__ import annotations

from collections.abc import Callable

from _storm.accounts import Credentials
from _storm.browser import Browser, LoginForm, StormResult, StudentError, release


class Student(Browser):
    prepare_label = "login page"

    def __init__(self, base_url: str, creds: Credentials, course: str = "") -> None:
        super().__init__(base_url, creds)
        self.course = course  # coursehub: the course whose server the student opens
        self.user_prefix = f"/user/{creds.username}/" + (f"{course}/" if course else "")
        self._form = LoginForm("/hub/login", "")

    async def prepare(self) -> None:
        self._form = self.login_form(await self.page("GET", "/hub/login"))

    async def walk(self) -> None:
        self.phase("login")
        r = await self.sign_in(self._form)
        if self.course:
            self.phase("course server")
            r = await self.page("GET", f"/hub/spawn/{self.creds.username}/{self.course}")
        r = await self.through_spawn(r)
        if not r.url.path.startswith(self.user_prefix):
            raise StudentError(self.reason(f"ended on {r.url.path} instead of the server"))
        self.phase("api status")
        await self.server_api(self.user_prefix, "api/status")


async def run_storm(
    base_url: str,
    creds: list[Credentials],
    *,
    deadline: float,
    hub_cpu: Callable[[], float | None],
    course: str = "",
) -> StormResult:
    """Prepare every student, release them together, stop waiting at the deadline.
    `course`: on coursehub, the course whose server each student opens."""
    students = [Student(base_url, c, course) for c in creds]
    return await release(students, deadline=deadline, hub_cpu=hub_cpu)
