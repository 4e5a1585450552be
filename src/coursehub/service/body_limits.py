"""Request bodies are counted while they stream in, not trusted by their headers.

A chunked body has no Content-Length to refuse up front, and a parser (the form
parser, FastAPI's body reading) takes whatever arrives. So every body passes through a
counter: past the route's limit the read fails and the caller gets a 413 in the one
error shape, whichever parser was reading. Routes accept `DEFAULT_LIMIT` bytes unless
their endpoint is marked with `body_limit` (uploads). Nothing is read before a route
asks for it, so a route that identifies its caller first never reads an anonymous body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coursehub.core.numbers import whole_number
from coursehub.service.errors import ApiError, error_response

DEFAULT_LIMIT = 1024 * 1024  # forms, JSON and LMS launches are far smaller
_MARK = "coursehub_body_limit"

F = TypeVar("F", bound=Callable[..., Any])


def body_limit(limit: int) -> Callable[[F], F]:
    """Mark an endpoint that accepts bodies of up to `limit` bytes (uploads)."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _MARK, limit)
        return endpoint

    return mark


def lower_body_limit(scope: Scope, limit: int) -> None:
    """Accept at most `limit` bytes for this request (a dependency that knows better
    than its route, e.g. forms); call before the body is read."""
    scope[_MARK] = min(limit, scope.get(_MARK, limit))


def limit_of(scope: Scope, default: int = DEFAULT_LIMIT) -> int:
    """The body limit of the route the router matched for `scope` (it sets "endpoint"),
    or the lower one a dependency set."""
    route = int(getattr(scope.get("endpoint"), _MARK, default))
    return min(route, scope.get(_MARK, route))


def _message(limit: int) -> str:
    size = f"{limit >> 20} MB" if limit >= 1 << 20 else f"{limit >> 10} KB"
    return f"The request body is larger than this address accepts ({size}); send less."


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__(413, _message(limit))


class BodyLimitMiddleware:
    """Counts body bytes as the app reads them; past the limit the read raises
    BodyTooLarge and the answer is a 413, even if a parser turned the error into
    something else."""

    def __init__(self, app: ASGIApp, default: int = DEFAULT_LIMIT):
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"").decode("latin-1")
        seen = 0
        tripped = 0  # the limit that was passed, once it was
        started = replaced = False

        async def counted() -> Message:
            nonlocal seen, tripped
            limit = limit_of(scope, self.default)
            if tripped or (whole_number(declared) or 0) > limit:
                tripped = tripped or limit
                raise BodyTooLarge(tripped)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    tripped = limit
                    raise BodyTooLarge(limit)
            return message

        async def answer_413(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        async def checked_send(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return  # the app's own answer to a body we cut off
            if message["type"] == "http.response.start":
                if tripped and message["status"] != 413:
                    # A parser caught our error and answered otherwise (400): say why.
                    replaced = True
                    response = error_response(Request(scope), 413, _message(tripped))
                    await response(scope, receive, answer_413)
                    return
                started = True
            await send(message)

        try:
            await self.app(scope, counted, checked_send)
        except Exception:
            # Whatever a reader made of our error (or of what followed it), the cause
            # is the size: answer that, unless an answer is already on its way.
            if replaced:
                return  # our 413 went out already
            if not tripped or started:
                raise
            await error_response(Request(scope), 413, _message(tripped))(scope, receive, send)
