"""Outermost app middleware: security headers, the access log and the 500 safety net."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coursehub.service.errors import error_response

log = logging.getLogger("coursehub.service")
access_log = logging.getLogger("coursehub.service.access")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def content_security_policy(
    frame_ancestors: tuple[str, ...] = (), form_targets: tuple[str, ...] = ()
) -> str:
    """The pages' policy; `frame_ancestors` are the sites (an LMS) that may frame them,
    `form_targets` where our forms may lead besides us (the live view's Help redirects
    to a student's server on their own subdomain)."""
    ancestors = " ".join(["'self'", *frame_ancestors])
    forms = " ".join(["'self'", *form_targets])
    return (
        f"default-src 'self'; frame-ancestors {ancestors}; base-uri 'self'; "
        f"form-action {forms}; object-src 'none'"
    )


# Query parameters whose values are credentials or one-time secrets.
SECRET_PARAMS = {
    "token",
    "access_token",
    "code",
    "state",
    "_xsrf",
    "auth_token",
    "id_token",
    "ticket",  # the live view's stream ticket
}


def loggable_target(scope: Scope) -> str:
    """Path and query string with secret parameter values replaced."""
    path = scope.get("path", "")
    query = scope.get("query_string", b"").decode("latin-1")
    if not query:
        return path
    pairs = [
        (key, "[secret]" if key.lower() in SECRET_PARAMS else value)
        for key, value in parse_qsl(query, keep_blank_values=True)
    ]
    return f"{path}?{urlencode(pairs, safe='[]/')}"


def _client(scope: Scope) -> str:
    # Behind the proxy the peer is the proxy; uvicorn's proxy_headers already put the
    # forwarded client into scope["client"] when the proxy is trusted.
    client = scope.get("client")
    return client[0] if client else "-"


class GuardMiddleware:
    """Adds security headers to every response, logs one line per request, and turns
    unhandled exceptions into a logged 500 without a traceback in the body."""

    def __init__(self, app: ASGIApp, static_prefix: str, csp: str | None = None):
        self.app = app
        self.static_prefix = static_prefix
        self.csp = csp or content_security_policy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        is_static = scope.get("path", "").startswith(self.static_prefix)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                # A route may set a stricter policy (shared snapshots are sandboxed).
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = self.csp
                if not is_static and "cache-control" not in headers:
                    # Pages and API answers are personal; keep them out of shared caches.
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if status:
                raise  # the response already started; nothing sane left to send
            response = error_response(
                Request(scope), 500, "Something went wrong on our side; it has been logged."
            )
            await response(scope, receive, send_with_headers)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            user = scope.get("state", {}).get("user_name") or "-"
            access_log.info(
                "%s %s %s %.1fms %s %s",
                status or "-",
                scope.get("method"),
                loggable_target(scope),
                elapsed,
                user,
                _client(scope),
            )
