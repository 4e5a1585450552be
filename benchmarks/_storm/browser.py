"""One simulated browser per student, and the release of all of them at once.

A ``Browser`` has its own cookie jar and walks pages as navigations (redirects
followed, ``Sec-Fetch-*`` headers a browser sends, so the hub applies its browser
rules). Subclasses say what to do before the clock (``prepare``) and what is timed
(``walk``); ``release`` prepares every student, lets them all go through one
``asyncio.Event``, and stops waiting at the deadline.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from _storm.accounts import Credentials

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) coursehub-storm/1"
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
FETCH_JSON = {**EVENT_STREAM, "Accept": "application/json"}
# A browser's EventSource reconnects when a stream ends without a verdict; bound it.
MAX_RECONNECTS = 5
TIMEOUT = httpx.Timeout(60, connect=10)
PREPARE_LIMIT = 120  # seconds for every student's preparation, before the clock

_XSRF_FIELD = re.compile(r'name="_xsrf"\s+value="([^"]*)"')
_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]*)"[^>]*method="post"', re.I)
_EVENT_SOURCE = re.compile(r'new EventSource\("([^"]+)"\)')
_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")


class StudentError(Exception):
    """What a student saw instead of their goal. reason is short and tallies well."""

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
    # seconds since the clock started at the end of each phase: where the time goes
    steps: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    detail: str | None = None


@dataclass
class StormResult:
    students: list[StudentResult]
    hub_cpu_s: float | None  # hub user+system CPU seconds over the storm
    wall_s: float
    loadavg_1m: float  # just before the release: other work on the machine skews results


@dataclass(frozen=True)
class LoginForm:
    action: str
    xsrf: str


class Browser:
    """A student's browser. Subclasses implement ``walk`` (timed) and may ``prepare``."""

    prepare_label = "prepare"  # how a failed preparation is tallied

    def __init__(self, base_url: str, creds: Credentials) -> None:
        self.creds = creds
        self.result = StudentResult(creds.username)
        self.client = httpx.AsyncClient(
            base_url=base_url,
            follow_redirects=True,
            timeout=TIMEOUT,
            headers={"User-Agent": USER_AGENT},
        )
        self._t0 = 0.0

    async def prepare(self) -> None:
        """Untimed set-up before the release (nothing by default)."""

    async def walk(self) -> None:
        """The timed part: return when the student has what they came for."""
        raise NotImplementedError

    def phase(self, name: str) -> None:
        """Close the current phase (its end time is kept) and start the next one."""
        if self.result.phase not in ("prepare", name):
            self.result.steps[self.result.phase] = time.perf_counter() - self._t0
        self.result.phase = name

    async def storm(self, go: asyncio.Event) -> StudentResult:
        res = self.result
        await go.wait()
        self._t0 = time.perf_counter()
        try:
            await self.walk()
            res.time_to_ready = time.perf_counter() - self._t0
            self.phase("done")
            res.ok = True
        except StudentError as e:
            res.reason, res.detail = e.reason, e.detail
        except httpx.TimeoutException as e:
            res.reason = f"{type(e).__name__} during {res.phase}"
            res.detail = repr(e)
        except httpx.HTTPError as e:  # connection refused/reset, redirect loop, ...
            res.reason = f"{type(e).__name__} during {res.phase}"
            res.detail = self.reason(str(e))
        except Exception as e:  # e.g. a garbled event; keep it this student's failure
            res.reason = f"unexpected {type(e).__name__} during {res.phase}"
            res.detail = repr(e)
        return res

    # ------------------------------------------------------------------ pages

    def reason(self, text: str) -> str:
        """Make reasons from different students identical so they tally."""
        return _PORT.sub(r"\1:<port>", text.replace(self.creds.username, "<user>"))[:120]

    async def page(
        self, method: str, url: str, data: dict[str, str] | None = None
    ) -> httpx.Response:
        """A navigation (with redirects); any error status is what the student sees."""
        r = await self.client.request(method, url, headers=NAVIGATE, data=data)
        if r.status_code >= 400:
            raise StudentError(self.reason(f"HTTP {r.status_code} on {r.url.path}"), r.text[:500])
        return r

    def login_form(self, page: httpx.Response) -> LoginForm:
        """The hub login page's form: where it posts (with ?next=) and its _xsrf field."""
        found = _XSRF_FIELD.search(page.text)
        if not found or "_xsrf" not in self.client.cookies:
            raise StudentError("login page has no _xsrf token")
        action = _FORM_ACTION.search(page.text)
        target = urljoin(str(page.url), html.unescape(action.group(1))) if action else "/hub/login"
        return LoginForm(target, html.unescape(found.group(1)))

    async def sign_in(self, form: LoginForm) -> httpx.Response:
        """Submit the login form and follow where the hub sends the browser."""
        data = {"username": self.creds.username, "password": self.creds.password}
        r = await self.page("POST", form.action, data={**data, "_xsrf": form.xsrf})
        first = r.history[0] if r.history else r
        self.result.login_s = first.elapsed.total_seconds()
        return r

    async def through_spawn(self, r: httpx.Response) -> httpx.Response:
        """If the hub parked us on its spawn-pending page, wait as the page does, then
        reload it: the hub sends the browser on once the server is ready."""
        if not r.url.path.startswith("/hub/spawn-pending/"):
            return r
        self.phase("progress")
        await self.follow_progress(r)
        self.phase("after spawn")
        return await self.page("GET", str(r.url))

    async def follow_progress(self, page: httpx.Response) -> None:
        """Read the spawn page's own EventSource URL (it carries ``?_xsrf=``: the hub
        checks XSRF on API GETs that are not navigations) until ready or failed."""
        found = _EVENT_SOURCE.search(page.text)
        if not found:
            raise StudentError("spawn-pending page has no progress stream")
        url = urljoin(str(page.url), html.unescape(found.group(1)))
        for _ in range(MAX_RECONNECTS + 1):
            async for event in self.events(url):
                if event.get("failed"):
                    message = str(event.get("message", ""))
                    raise StudentError(self.reason(f"progress: {message}"), message)
                if event.get("ready"):
                    return
            await asyncio.sleep(1)
        raise StudentError("progress stream kept ending without ready/failed")

    async def events(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """The JSON ``data:`` lines of one server-sent event stream, until it ends."""
        async with self.client.stream("GET", url, headers=EVENT_STREAM) as r:
            if r.status_code != 200:
                await r.aread()
                raise StudentError(
                    self.reason(f"HTTP {r.status_code} on event stream {r.url.path}"), r.text[:500]
                )
            async for line in r.aiter_lines():
                if line.startswith("data:"):  # skips keepalive blank lines
                    yield json.loads(line[5:])

    def server_xsrf(self, server_prefix: str) -> str | None:
        """The _xsrf cookie a student server set (its path is the server's prefix)."""
        return next(
            (
                c.value
                for c in self.client.cookies.jar
                if c.name == "_xsrf" and c.path.startswith(server_prefix.rstrip("/"))
            ),
            None,
        )

    async def server_api(self, server_prefix: str, path: str) -> None:
        """GET a student server's REST API as JupyterLab does (X-XSRFToken); needs 200."""
        headers = dict(FETCH_JSON)
        token = self.server_xsrf(server_prefix)
        if token:
            headers["X-XSRFToken"] = token
        r = await self.client.get(server_prefix + path, headers=headers)
        if r.status_code != 200:
            shown = self.reason(f"{server_prefix}{path}".split("?")[0])
            raise StudentError(f"HTTP {r.status_code} on {shown}", r.text[:500])


async def release(
    students: Sequence[Browser], *, deadline: float, hub_cpu: Callable[[], float | None]
) -> StormResult:
    """Prepare every student, release them together, stop waiting at the deadline."""
    tasks: list[asyncio.Task[StudentResult]] = []
    try:
        prepared = await asyncio.gather(
            *(asyncio.wait_for(s.prepare(), min(deadline, PREPARE_LIMIT)) for s in students),
            return_exceptions=True,
        )
        ready = []
        for s, outcome in zip(students, prepared, strict=True):
            if isinstance(outcome, BaseException):
                why = getattr(outcome, "reason", type(outcome).__name__)
                s.result.reason = f"{s.prepare_label}: {why}"
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
        # Also on Ctrl-C or SIGTERM: stop every student and collect each outcome, so
        # that none is reported at exit as an exception nobody retrieved.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(s.client.aclose() for s in students), return_exceptions=True)
