"""One error shape: `{"error": {"code", "message"}}` for APIs, a small page for browsers."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coursehub.service.context import context_of
from coursehub.service.identity import HubUnavailable
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")

CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}


class ApiError(Exception):
    """Raise from a route to answer with the one error shape."""

    def __init__(
        self,
        status_code: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status_code = status_code
        self.code = code or CODES.get(status_code, "error")
        self.message = message
        self.headers = headers


def wants_json(request: Request) -> bool:
    """API routes and health answer JSON; everything else is a page for a browser."""
    prefix = context_of(request.app).settings.service_prefix
    path = request.url.path
    if path.startswith(prefix + "compat/"):
        from coursehub.service.routes.moodle_compat.routes import answers_json

        return answers_json(path.removeprefix(prefix))
    return path.startswith(prefix + "api/") or path == prefix + "api" or path == prefix + "health"


def error_response(
    request: Request,
    status_code: int,
    message: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    code = code or CODES.get(status_code, "error")
    if wants_json(request):
        body = {"error": {"code": code, "message": message}}
        return JSONResponse(body, status_code=status_code, headers=headers)
    try:
        title = HTTPStatus(status_code).phrase
    except ValueError:
        title = "Error"
    return render(
        request,
        "error.html",
        status_code=status_code,
        headers=headers,
        status=status_code,
        title=title,
        message=message,
    )


def _default_message(status_code: int) -> str:
    messages = {
        401: "Sign in first, or send a hub token in the Authorization header.",
        403: "You are not allowed to do this.",
        404: "There is nothing at this address.",
        405: "This address does not accept that method.",
        500: "Something went wrong on our side; it has been logged.",
    }
    try:
        return messages.get(status_code) or HTTPStatus(status_code).description
    except ValueError:
        return "The request failed."


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    # Framework detail strings are generic ("Not Found"); ours are friendlier and fixed,
    # so nothing from the request is reflected back.
    message = _default_message(exc.status_code)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(request, exc.status_code, message, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(request, exc.status_code, exc.message, exc.code, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    message = "Invalid request: " + "; ".join(problems) if problems else "Invalid request."
    return error_response(request, 400, message, "invalid_request")


async def _hub_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("hub unavailable for %s %s: %s", request.method, request.url.path, exc)
    message = "The hub is not answering right now; try again in a moment."
    return error_response(request, 503, message, "hub_unavailable", {"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    """Route every expected failure to the one shape (500s are handled in middleware)."""
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HubUnavailable, _hub_unavailable)
