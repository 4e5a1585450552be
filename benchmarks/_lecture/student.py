"""One student of the lecture: a browser's cookie jar, the hubs' pages, then JupyterLab's
recorded start-up replayed, until the first cell's result.

The clock runs from the first GET of the course link to the first output of the
notebook's first cell that shows the course environment answered. Before the lab page
the student walks the hub's own pages as a browser does (redirects, the login form, the
spawn page's progress stream, nbgitpuller's page and its event stream); from the lab
page on, the requests of ``recording.Plan`` go out as JupyterLab sent them.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import quote, unquote, urlencode, urljoin, urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from _lecture import course, wire
from _lecture.net import LoopbackTransport, is_local
from _lecture.recording import Plan, Step
from _lecture.sites import Site
from _storm.accounts import Credentials
from _storm.browser import FETCH_JSON, TIMEOUT, USER_AGENT, Browser, StudentError

_DATA_ATTR = re.compile(r'\sdata-([a-z-]+)="([^"]*)"')
WS_OPEN_TIMEOUT = 60


class LectureStudent(Browser):
    def __init__(self, site: Site, creds: Credentials, plan: Plan) -> None:
        super().__init__(site.hub_url, creds)
        self.client = httpx.AsyncClient(
            base_url=site.hub_url,
            follow_redirects=True,
            timeout=TIMEOUT,
            headers={"User-Agent": USER_AGENT},
            transport=LoopbackTransport(),
            trust_env=False,
        )
        self.site, self.plan = site, plan
        self.server = site.server_url(creds.username)
        self.values: dict[str, str] = {}
        self._answers: dict[str, asyncio.Event] = {}
        self._done: dict[int, asyncio.Event] = {}
        self._result: asyncio.Future[None] | None = None
        self.start_delay = 0.0  # seconds after the release (students spread over a minute)
        self.signed_in = False

    def reset(self) -> None:
        """Before a second lecture: a new result, the same cookie jar."""
        from _storm.browser import StudentResult

        self.result = StudentResult(self.creds.username)
        self.values, self._answers, self._done = {}, {}, {}

    async def storm(self, go: asyncio.Event) -> Any:
        await go.wait()
        if self.start_delay:
            await asyncio.sleep(self.start_delay)
        # the parent's clock starts when the student clicks
        gate = asyncio.Event()
        gate.set()
        return await super().storm(gate)

    # ------------------------------------------------------------------ the walk

    async def walk(self) -> None:
        self.phase("open link")
        r = await self.page("GET", self.site.link(self.creds.username))
        if urlsplit(str(r.url)).path.endswith("/hub/login"):
            self.phase("login")
            r = await self.sign_in(self.login_form(r))
        r = await self.through_spawn(r)
        if self.site.link_kind == "nbgitpuller":
            if not urlsplit(str(r.url)).path.endswith("/git-pull"):
                raise StudentError(self.reason(f"ended on {r.url.path} instead of git-pull"))
            self.phase("git pull")
            r = await self.page("GET", await self._pull(r))
        lab = f"{self.server}lab/tree/{self.site.notebook}"
        if unquote(str(r.url).split("?")[0]) != lab:
            raise StudentError(self.reason(f"ended on {r.url.path} instead of the notebook"))
        self.phase("jupyterlab")
        await self.replay()

    async def _pull(self, page: httpx.Response) -> str:
        """nbgitpuller's page script: its event stream, then where it sends the browser."""
        data = {k: unquote(html.unescape(v)) for k, v in _DATA_ATTR.findall(page.text)}
        if "repo" not in data or "base-url" not in data:
            raise StudentError("git-pull page has no repository to pull")
        params = {"_xsrf": data.get("xsrf", ""), "repo": data["repo"],
                  "targetpath": data.get("targetpath", "")}  # fmt: skip
        for key in ("depth", "branch", "backup"):
            if key in data:
                params[key] = data[key]
        base = urljoin(str(page.url), data["base-url"])
        async for event in self.events(f"{base}git-pull/api?{urlencode(params)}"):
            if event.get("phase") == "finished":
                return base + data.get("path", "")
            if event.get("phase") == "error":
                message = str(event.get("message", ""))
                raise StudentError(self.reason(f"git-pull: {message}"), str(event)[:2000])
        raise StudentError("git-pull stream ended without finished or error")

    # ------------------------------------------------------------------ the replay

    def _fill(self, text: str) -> str:
        values = {**self.values, "now_ms": str(int(time.time() * 1000))}
        xsrf = self.server_xsrf(urlsplit(self.server).path)
        if xsrf:
            values["xsrf"] = xsrf
        return re.sub(r"\{([a-z0-9_]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)

    def _fill_deep(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._fill(value)
        if isinstance(value, list):
            return [self._fill_deep(v) for v in value]
        if isinstance(value, dict):
            return {k: self._fill_deep(v) for k, v in value.items()}
        return value

    async def replay(self) -> None:
        nb = self.site.notebook
        folder = nb.rsplit("/", 1)[0] if "/" in nb else ""
        self.values = {"server": self.server, "hub": self.site.hub_url, "notebook": nb,
                       "notebook_url": quote(nb), "user": self.creds.username,
                       "notebook_dir": quote(folder)}  # fmt: skip
        self.values.update({name: str(uuid.uuid4()) for name in self.plan.generated})
        needed = {n for s in self.plan.steps for n in (*s.needs, *s.provides)}
        self._answers = {name: asyncio.Event() for name in needed}
        self._done = {s.id: asyncio.Event() for s in self.plan.steps}
        self._done[self.plan.document.id] = asyncio.Event()
        self._done[self.plan.document.id].set()
        self._result = asyncio.get_running_loop().create_future()
        tasks = [asyncio.create_task(self._step(s)) for s in self.plan.steps]
        try:
            await self._result  # the first cell's output, or a step's failure
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _fail(self, error: BaseException) -> None:
        if self._result is not None and not self._result.done():
            self._result.set_exception(error)

    async def _step(self, step: Step) -> None:
        try:
            if step.trigger is not None:
                await self._done[step.trigger].wait()
            for name in step.needs:
                await self._answers[name].wait()
            if step.kind == "websocket":
                await self._socket(step)
            elif step.kind == "eventsource":
                await self._eventsource(step)
            else:
                await self._request(step)
        except asyncio.CancelledError:
            raise
        except StudentError as e:
            self._fail(e)
        except (httpx.HTTPError, WebSocketException, OSError, TimeoutError) as e:
            self._fail(StudentError(f"{type(e).__name__} on {self._shown(step)}", repr(e)))
        except Exception as e:  # a garbled answer: this student's failure, not the run's
            self._fail(StudentError(f"unexpected {type(e).__name__} on {self._shown(step)}",
                                    repr(e)))  # fmt: skip

    def _shown(self, step: Step) -> str:
        return step.url.split("?")[0]

    def _headers(self, step: Step) -> dict[str, str]:
        headers = dict(FETCH_JSON)
        if step.xsrf_header:
            token = self.server_xsrf(urlsplit(self.server).path)
            if token:
                headers["X-XSRFToken"] = token
        if step.content_type:
            headers["Content-Type"] = step.content_type
        return headers

    async def _request(self, step: Step) -> None:
        body = self._fill(step.body) if isinstance(step.body, str) else None
        r = await self.client.request(step.method, self._fill(step.url), content=body,
                                      headers=self._headers(step))  # fmt: skip
        recorded_error = (step.recorded_status or 0) >= 400
        if r.status_code >= 500 or (r.status_code >= 400 and not recorded_error):
            raise StudentError(f"HTTP {r.status_code} on {step.method} {self._shown(step)}",
                               r.text[:500])  # fmt: skip
        if step.provides:
            answer = r.json()
            for name, path in step.provides.items():
                value: Any = answer
                for key in path.split("."):
                    value = value[key]
                self.values[name] = str(value)
                self._answers[name].set()
        self._done[step.id].set()

    async def _eventsource(self, step: Step) -> None:
        async with self.client.stream(
            "GET", self._fill(step.url), headers=self._headers(step)
        ) as r:
            self._done[step.id].set()
            async for _ in r.aiter_lines():  # held open, as the page holds it
                pass

    def _ws_target(self, url: str) -> tuple[str, dict[str, Any], dict[str, str]]:
        parts = httpx.URL(url)
        ws_url = str(parts.copy_with(scheme="ws" if parts.scheme == "http" else "wss"))
        request = httpx.Request("GET", url)
        self.client.cookies.set_cookie_header(request)
        headers = {"Origin": f"{parts.scheme}://{parts.netloc.decode()}", "User-Agent": USER_AGENT}
        if request.headers.get("Cookie"):
            headers["Cookie"] = request.headers["Cookie"]
        tcp = {"host": "127.0.0.1", "port": parts.port} if is_local(parts.host) else {}
        return ws_url, tcp, headers

    async def _socket(self, step: Step) -> None:
        url = self._fill(step.url)
        ws_url, tcp, headers = self._ws_target(url)
        kernel = "/channels" in step.url
        protocols = [wire.SUBPROTOCOL] if kernel and step.binary else None
        async with connect(ws_url, additional_headers=headers, subprotocols=protocols,  # type: ignore[arg-type]
                           proxy=None, open_timeout=WS_OPEN_TIMEOUT, compression=None,
                           max_size=None, **tcp) as ws:  # fmt: skip
            self._done[step.id].set()
            if kernel and step.frames:
                await self._kernel(ws, step)
            else:
                async for _ in ws:  # held open, as the page holds it
                    pass

    async def _kernel(self, ws: ClientConnection, step: Step) -> None:
        """Send what JupyterLab sent, each after the replies it came after, until the first
        cell's output arrives."""
        binary = ws.subprotocol == wire.SUBPROTOCOL
        found = re.search(r"session_id=\{(client_session_\d+)\}", step.url)
        session = self.values[found.group(1)] if found else str(uuid.uuid4())
        received: dict[str, int] = {}
        arrived = asyncio.Event()
        execute_ids: set[str] = set()

        async def reader() -> None:
            try:
                await read()
            finally:
                arrived.set()  # wakes the sender, also when the socket closed

        async def read() -> None:
            async for payload in ws:
                channel, msg = wire.decode(payload)
                msg_type = msg.get("header", {}).get("msg_type", "")
                received[msg_type] = received.get(msg_type, 0) + 1
                arrived.set()
                parent = (msg.get("parent_header") or {}).get("msg_id")
                if parent in execute_ids:
                    content = msg.get("content") or {}
                    if msg_type == "error":
                        raise StudentError(f"first cell raised {content.get('ename')}",
                                           str(content.get("evalue"))[:500])  # fmt: skip
                    shown = json.dumps(content.get("data") or content.get("text") or "")
                    if msg_type in ("stream", "execute_result", "display_data") and \
                            course.EXPECTED in shown:  # fmt: skip
                        if self._result is not None and not self._result.done():
                            self._result.set_result(None)
                        return

        reading = asyncio.create_task(reader())
        try:
            wanted: dict[str, int] = {}
            for frame in step.frames:
                if frame["dir"] == "received":
                    if str(frame.get("msg_type", "")).endswith("_reply"):
                        wanted[frame["msg_type"]] = wanted.get(frame["msg_type"], 0) + 1
                    continue
                # wait for the replies that had arrived before JupyterLab sent this
                while any(received.get(t, 0) < n for t, n in wanted.items()):
                    if reading.done():
                        reading.result()
                        raise StudentError("kernel websocket closed before the result")
                    arrived.clear()
                    await arrived.wait()
                msg = wire.message(frame["msg_type"], self._fill_deep(frame.get("content") or {}),
                                   session, self._fill(frame.get("username") or ""),
                                   metadata=frame.get("metadata") or {})  # fmt: skip
                if frame["msg_type"] == "execute_request":
                    execute_ids.add(msg["header"]["msg_id"])
                    self.phase("first cell")
                channel = frame.get("channel") or "shell"
                if binary:
                    await ws.send(wire.encode_v1(channel, msg))
                else:
                    await ws.send(json.dumps({**msg, "channel": channel}))
            await reading
        finally:
            reading.cancel()
