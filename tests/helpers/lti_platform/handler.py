"""HTTP plumbing and the launch pages: /jwks, /start, /embed and /auth."""

from __future__ import annotations

import html
import json
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from tests.helpers.lti_platform.simulator import PlatformSimulator

MAX_BODY = 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    url: str

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    @property
    def params(self) -> dict[str, str]:
        """Query for GET, form for POST (how an OIDC request may arrive)."""
        return self.form if self.method == "POST" else self.query

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, data: Any, content_type: str = "application/json") -> Response:
    return Response(status, json.dumps(data).encode(), content_type)


def text(status: int, message: str) -> Response:
    return Response(status, message.encode())


def page(status: int, body_html: str, title: str = "LMS") -> Response:
    doc = f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
    return Response(status, (doc + f"<body>{body_html}</body></html>").encode(), "text/html")


def auto_post(action: str, fields: dict[str, str], title: str) -> Response:
    """A form that submits itself, the way an LMS moves a launch between sites."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    body = (
        f'<form id="lti" method="post" action="{html.escape(action)}">{inputs}'
        '<noscript><button type="submit">Continue</button></noscript></form>'
        "<script>document.getElementById('lti').submit();</script>"
    )
    return page(200, body, title)


Route = Callable[..., Response]


def jwks(sim: PlatformSimulator, req: Request) -> Response:
    with sim.lock:
        sim.jwks_requests += 1
    return json_response(200, sim.jwks())


def start(sim: PlatformSimulator, req: Request, hint: str) -> Response:
    if sim.pending_launch(hint) is None:
        return text(404, f"no pending launch with login_hint {hint!r}")
    return auto_post(sim.tool_login_url, sim.login_params(hint), "Launching")


def embed(sim: PlatformSimulator, req: Request, hint: str) -> Response:
    host = req.query.get("frame_host", "127.0.0.1")
    src = f"http://{host}:{sim.port}/start/{hint}"
    frame = (
        f"<h1>{html.escape(str(sim.context.get('title', '')))}</h1>"
        f'<iframe id="tool" src="{html.escape(src)}" width="1000" height="700" '
        'allow="clipboard-write; fullscreen"></iframe>'
    )
    return page(200, frame, "Course page")


AUTH_FIXED = {
    "scope": "openid",
    "response_type": "id_token",
    "response_mode": "form_post",
    "prompt": "none",
}


def auth(sim: PlatformSimulator, req: Request) -> Response:
    params = req.params
    with sim.lock:
        sim.auth_requests.append({"method": req.method, **params})
    for name, expected in AUTH_FIXED.items():
        if params.get(name) != expected:
            return text(400, f"{name} must be {expected!r}, got {params.get(name)!r}")
    if params.get("client_id") != sim.client_id:
        return text(400, f"unknown client_id {params.get('client_id')!r}")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri or redirect_uri != sim.tool_launch_url:
        return text(400, f"redirect_uri {redirect_uri!r} is not the one the tool registered")
    pending = sim.pending_launch(params.get("login_hint", ""))
    if pending is None:
        return text(400, f"unknown login_hint {params.get('login_hint')!r}")
    if params.get("lti_message_hint") != pending.message_hint:
        return text(400, "lti_message_hint does not match the login initiation")
    if not params.get("nonce"):
        return text(400, "nonce is required")
    fields = {"id_token": sim.id_token_for(pending, params["nonce"])}
    if "state" in params:
        fields["state"] = params["state"]
    return auto_post(redirect_uri, fields, "Launching the tool")


def routes() -> list[tuple[str, re.Pattern[str], Route]]:
    from tests.helpers.lti_platform import services

    table: list[tuple[str, str, Route]] = [
        ("GET", r"/jwks", jwks),
        ("GET", r"/start/(?P<hint>[^/]+)", start),
        ("GET", r"/embed/(?P<hint>[^/]+)", embed),
        ("GET", r"/auth", auth),
        ("POST", r"/auth", auth),
        ("POST", r"/token", services.token),
        ("GET", r"/ags/(?P<ctx>[^/]+)/lineitems", services.list_items),
        ("POST", r"/ags/(?P<ctx>[^/]+)/lineitems", services.create_item),
        ("GET", r"/ags/(?P<ctx>[^/]+)/lineitems/(?P<n>\d+)", services.get_item),
        ("PUT", r"/ags/(?P<ctx>[^/]+)/lineitems/(?P<n>\d+)", services.put_item),
        ("DELETE", r"/ags/(?P<ctx>[^/]+)/lineitems/(?P<n>\d+)", services.delete_item),
        ("POST", r"/ags/(?P<ctx>[^/]+)/lineitems/(?P<n>\d+)/scores", services.post_score),
        ("GET", r"/ags/(?P<ctx>[^/]+)/lineitems/(?P<n>\d+)/results", services.results),
        ("GET", r"/nrps/(?P<ctx>[^/]+)/memberships", services.memberships),
        ("POST", r"/deep_link_return", services.deep_link_return),
    ]
    return [(m, re.compile(p), fn) for m, p, fn in table]


class PlatformHandler(BaseHTTPRequestHandler):
    server_version = "LTIPlatformSimulator/1.0"
    _routes: list[tuple[str, re.Pattern[str], Route]] | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # tests read request_log instead of stderr noise

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        sim: PlatformSimulator = self.server.simulator  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(sim, method, parts.path, text(413, "body too large"))
            return
        req = Request(
            method,
            parts.path,
            dict(parse_qsl(parts.query, keep_blank_values=True)),
            {k.lower(): v for k, v in self.headers.items()},
            self.rfile.read(length) if length else b"",
            sim.url + self.path,
        )
        self._send(sim, method, parts.path, self._respond(sim, req))

    def _respond(self, sim: PlatformSimulator, req: Request) -> Response:
        fault = sim.take_fault(req.path)
        if fault is not None:
            resp = json_response(fault.status, {"error": "injected failure"})
            if fault.retry_after is not None:
                resp.headers["Retry-After"] = str(fault.retry_after)
            return resp
        if PlatformHandler._routes is None:
            PlatformHandler._routes = routes()
        allowed = False
        for method, pattern, fn in PlatformHandler._routes:
            match = pattern.fullmatch(req.path)
            if match and method == req.method:
                try:
                    return fn(sim, req, **match.groupdict())
                except Exception:  # a simulator bug: say so instead of dropping the socket
                    return text(500, traceback.format_exc())
            allowed = allowed or bool(match)
        return text(405 if allowed else 404, f"{req.method} {req.path}: not here")

    def _send(self, sim: PlatformSimulator, method: str, path: str, resp: Response) -> None:
        with sim.lock:
            sim.request_log.append((method, path, resp.status))
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(resp.body)
