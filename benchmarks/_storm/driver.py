"""The students: one httpx client (own cookie jar) each, walking the pages a browser walks.

Flow per student, as in a browser on JupyterHub 6.1:

1. GET /hub/login (before the storm): the page sets the anonymous ``_xsrf`` cookie
   and carries the same token in a hidden form field.
2. POST the form (username, password, _xsrf), following redirects: /hub/spawn waits
   up to ``slow_spawn_timeout`` (10 s) and then sends the browser on to
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

The clock runs from the moment the login form is submitted to the end of step 5.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from .accounts import Credentials

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) login-storm/1"
NAVIGATE = {
    "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Dest": "document",
}
EVENT_STREAM = {
    "Accept": "text/event-stream",
    "Cache-Control": "no-cache",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Dest": "empty",
}
# A browser's EventSource reconnects when a stream ends without a verdict; bound it.
MAX_RECONNECTS = 5
TIMEOUT = httpx.Timeout(60, connect=10)

_XSRF_FIELD = re.compile(r'name="_xsrf"\s+value="([^"]*)"')
_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]*)"[^>]*method="post"', re.I)
_EVENT_SOURCE = re.compile(r'new EventSource\("([^"]+)"\)')
_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")


class StudentError(Exception):
    """What a student saw instead of their server. reason is short and tallies well."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


@dataclass
class StudentResult:
    username: str
    ok: bool = False
    time_to_ready: float | None = None
    login_s: float | None = None  # form submitted -> the hub's answer to the POST
    phase: str = "prepare"
    reason: str | None = None
    detail: str | None = None


@dataclass
class StormResult:
    students: list[StudentResult]
    hub_cpu_s: float | None  # hub user+system CPU seconds over the storm
    wall_s: float
    loadavg_1m: float  # just before the release: other work on the machine skews results


class Student:
    def __init__(self, base_url: str, creds: Credentials) -> None:
        self.creds = creds
        self.user_prefix = f"/user/{creds.username}/"
        self.result = StudentResult(creds.username)
        self.client = httpx.AsyncClient(
            base_url=base_url,
            follow_redirects=True,
            timeout=TIMEOUT,
            headers={"User-Agent": USER_AGENT},
        )
        self._form_action = "/hub/login"
        self._xsrf = ""

    def _reason(self, text: str) -> str:
        """Make reasons from different students identical so they tally."""
        return _PORT.sub(r"\1:<port>", text.replace(self.creds.username, "<user>"))[:120]

    async def _page(
        self, method: str, url: str, data: dict[str, str] | None = None
    ) -> httpx.Response:
        """A navigation (with redirects); any error status is what the student sees."""
        r = await self.client.request(method, url, headers=NAVIGATE, data=data)
        if r.status_code >= 400:
            raise StudentError(self._reason(f"HTTP {r.status_code} on {r.url.path}"), r.text[:500])
        return r

    async def prepare(self) -> None:
        r = await self._page("GET", "/hub/login")
        field_ = _XSRF_FIELD.search(r.text)
        if not field_ or "_xsrf" not in self.client.cookies:
            raise StudentError("login page has no _xsrf token")
        self._xsrf = html.unescape(field_.group(1))
        action = _FORM_ACTION.search(r.text)
        if action:
            self._form_action = urljoin(str(r.url), html.unescape(action.group(1)))

    async def storm(self, go: asyncio.Event) -> StudentResult:
        res = self.result
        await go.wait()
        t0 = time.perf_counter()
        try:
            res.phase = "login"
            form = {"username": self.creds.username, "password": self.creds.password}
            r = await self._page("POST", self._form_action, data={**form, "_xsrf": self._xsrf})
            first = r.history[0] if r.history else r
            res.login_s = first.elapsed.total_seconds()
            path = r.url.path
            if path.startswith("/hub/spawn-pending/"):
                res.phase = "progress"
                await self._follow_progress(r)
                res.phase = "open lab"
                r = await self._page("GET", str(r.url))  # what the page's script does
                path = r.url.path
            if not path.startswith(self.user_prefix):
                raise StudentError(self._reason(f"ended on {path} instead of the server"))
            res.phase = "api status"
            await self._api_status()
            res.time_to_ready = time.perf_counter() - t0
            res.ok = True
            res.phase = "done"
        except StudentError as e:
            res.reason, res.detail = e.reason, e.detail
        except httpx.TimeoutException as e:
            res.reason = f"{type(e).__name__} during {res.phase}"
            res.detail = repr(e)
        except httpx.HTTPError as e:  # connection refused/reset, redirect loop, ...
            res.reason = f"{type(e).__name__} during {res.phase}"
            res.detail = self._reason(str(e))
        except Exception as e:  # e.g. a garbled event; keep it this student's failure
            res.reason = f"unexpected {type(e).__name__} during {res.phase}"
            res.detail = repr(e)
        return res

    async def _follow_progress(self, page: httpx.Response) -> None:
        found = _EVENT_SOURCE.search(page.text)
        if not found:
            raise StudentError("spawn-pending page has no progress stream")
        url = urljoin(str(page.url), html.unescape(found.group(1)))
        for _ in range(MAX_RECONNECTS + 1):
            async with self.client.stream("GET", url, headers=EVENT_STREAM) as r:
                if r.status_code != 200:
                    await r.aread()
                    raise StudentError(f"HTTP {r.status_code} on progress stream", r.text[:500])
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # keepalive blank lines
                    event = json.loads(line[5:])
                    if event.get("failed"):
                        message = str(event.get("message", ""))
                        raise StudentError(self._reason(f"progress: {message}"), message)
                    if event.get("ready"):
                        return
            await asyncio.sleep(1)
        raise StudentError("progress stream kept ending without ready/failed")

    async def _api_status(self) -> None:
        # The server sets its own _xsrf cookie (path /user/<name>/) with the lab page.
        token = next(
            (
                c.value
                for c in self.client.cookies.jar
                if c.name == "_xsrf" and c.path.startswith(self.user_prefix.rstrip("/"))
            ),
            None,
        )
        headers = {**EVENT_STREAM, "Accept": "application/json"}
        if token:
            headers["X-XSRFToken"] = token
        r = await self.client.get(self.user_prefix + "api/status", headers=headers)
        if r.status_code != 200:
            raise StudentError(f"HTTP {r.status_code} on /user/<user>/api/status", r.text[:500])


async def run_storm(
    base_url: str,
    creds: list[Credentials],
    *,
    deadline: float,
    hub_cpu: Callable[[], float | None],
) -> StormResult:
    """Prepare every student, release them together, stop waiting at the deadline."""
    students = [Student(base_url, c) for c in creds]
    try:
        limit = min(deadline, 120)
        prepared = await asyncio.gather(
            *(asyncio.wait_for(s.prepare(), limit) for s in students), return_exceptions=True
        )
        ready = []
        for s, outcome in zip(students, prepared, strict=True):
            if isinstance(outcome, BaseException):
                s.result.reason = (
                    f"login page: {getattr(outcome, 'reason', type(outcome).__name__)}"
                )
                s.result.detail = repr(outcome)
            else:
                ready.append(s)

        go = asyncio.Event()
        tasks = [asyncio.create_task(s.storm(go)) for s in ready]
        await asyncio.sleep(0.1)  # every task is now parked on go.wait()
        load = os.getloadavg()[0]
        cpu0 = hub_cpu()
        t0 = time.perf_counter()
        go.set()
        _, late = await asyncio.wait(tasks, timeout=deadline) if tasks else (set(), set())
        wall = time.perf_counter() - t0
        cpu1 = hub_cpu()
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for s in ready:
            if not s.result.ok and s.result.reason is None:
                s.result.reason = f"deadline ({deadline:.0f} s) passed during {s.result.phase}"
        cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        return StormResult([s.result for s in students], cpu, wall, load)
    finally:
        await asyncio.gather(*(s.client.aclose() for s in students), return_exceptions=True)
