"""Link storm students: open a course notebook link for the first time.

Nothing is done before the clock: each student starts signed out, with an empty
cookie jar, and the clock runs from the click on the link until the notebook is
really in their workspace: JupyterLab answers 200 on ``lab/tree/<notebook>`` and
then the server's contents API (``api/contents/<notebook>?content=0``, with the
server's ``_xsrf`` cookie as X-XSRFToken, as JupyterLab asks) answers 200.

Scripts, styles and other static files are not fetched, on either side.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, unquote, urlencode

import httpx

from _storm.accounts import Credentials
from _storm.browser import Browser, StudentError
from _storm.course_repo import ServedCourse

COURSE = "storm"  # the course's name in coursehub

_DATA_ATTR = re.compile(r'\sdata-([a-z-]+)="([^"]*)"')


class NbgitpullerStudent(Browser):
    """Plain JupyterHub with an nbgitpuller link, walked as a browser walks it:

    1. GET ``/hub/user-redirect/git-pull?repo=…&branch=main&urlpath=lab/tree/…``:
       signed out, the hub sends the browser to its login page (``?next=`` the link).
    2. Sign in; the hub follows ``next``: user-redirect finds no server and sends
       the browser to ``/hub/spawn/<user>?next=/user/<user>/git-pull?…``.
    3. Wait on the progress stream as spawn-pending's script does, then reload it;
       the hub sends the browser to ``/user/<user>/git-pull?…`` (after the
       server's OAuth round trip with the hub).
    4. nbgitpuller's status page: its script opens ``git-pull/api?_xsrf=…&repo=…``
       (an event stream) while the server clones the repository, and on
       ``finished`` goes to the server's ``lab/tree/<repo>/<notebook>``.
    """

    def __init__(self, base_url: str, creds: Credentials, course: ServedCourse) -> None:
        super().__init__(base_url, creds)
        self.server = f"/user/{creds.username}/"
        self.notebook = f"{course.name}/{course.notebook}"  # nbgitpuller clones into <repo name>/
        query = {
            "repo": course.url,
            "branch": course.branch,
            "urlpath": f"lab/tree/{self.notebook}",
        }
        self.link = "/hub/user-redirect/git-pull?" + urlencode(query)

    async def walk(self) -> None:
        self.phase("open link")
        r = await self.page("GET", self.link)
        self.phase("login")
        r = await self.through_spawn(await self.sign_in(self.login_form(r)))
        if r.url.path != self.server + "git-pull":
            raise StudentError(self.reason(f"ended on {r.url.path} instead of git-pull"))
        self.phase("git pull")
        lab = await self._pull(r)
        self.phase("open notebook")
        r = await self.page("GET", lab)
        if unquote(r.url.path) != f"{self.server}lab/tree/{self.notebook}":
            raise StudentError(self.reason(f"ended on {r.url.path} instead of the notebook"))
        self.phase("contents")
        await self.server_api(self.server, f"api/contents/{quote(self.notebook)}?content=0")

    async def _pull(self, page: httpx.Response) -> str:
        """What nbgitpuller's page script does; returns where it sends the browser."""
        data = {k: unquote(html.unescape(v)) for k, v in _DATA_ATTR.findall(page.text)}
        if "repo" not in data or "base-url" not in data:
            raise StudentError("git-pull page has no repository to pull")
        params = {"_xsrf": data.get("xsrf", ""), "repo": data["repo"],
                  "targetpath": data.get("targetpath", "")}  # fmt: skip
        for key in ("depth", "branch", "backup"):
            if key in data:
                params[key] = data[key]
        url = f"{data['base-url']}git-pull/api?{urlencode(params)}"
        async for event in self.events(url):
            if event.get("phase") == "finished":
                return data["base-url"] + data.get("path", "")
            if event.get("phase") == "error":
                message = str(event.get("message", ""))
                raise StudentError(self.reason(f"git-pull: {message}"), str(event)[:2000])
        raise StudentError("git-pull stream ended without finished or error")


class CoursehubLinkStudent(Browser):
    """coursehub's stable link, walked as a browser walks it:

    1. GET ``/services/coursehub/open/<course>/<notebook>``: signed out, the service
       starts its OAuth with the hub, which sends the browser to its login page.
    2. Sign in; the hub finishes the OAuth (callback to the service), and the
       service, seeing no server for the course yet, sends the browser to
       ``/hub/spawn/<user>/<course>?next=<the link>`` (a named server per course).
    3. Wait on the progress stream as spawn-pending's script does, then reload it:
       the hub sends the browser back to the link, which copies the notebook into
       the student's workspace and redirects to
       ``/user/<user>/<course>/lab/tree/<notebook>`` (after the server's OAuth).
    """

    def __init__(self, base_url: str, creds: Credentials, course: ServedCourse) -> None:
        super().__init__(base_url, creds)
        self.server = f"/user/{creds.username}/{COURSE}/"
        self.notebook = course.notebook
        self.link = f"/services/coursehub/open/{COURSE}/{course.notebook}"

    async def walk(self) -> None:
        self.phase("open link")
        r = await self.page("GET", self.link)
        self.phase("login")
        r = await self.through_spawn(await self.sign_in(self.login_form(r)))
        if unquote(r.url.path) != f"{self.server}lab/tree/{self.notebook}":
            raise StudentError(self.reason(f"ended on {r.url.path} instead of the notebook"))
        self.phase("contents")
        await self.server_api(self.server, f"api/contents/{quote(self.notebook)}?content=0")
