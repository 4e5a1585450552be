"""What a course server asks of the coursehub service for its JupyterLab, as its student.

The server calls the service with its own hub token (JUPYTERHUB_API_TOKEN: the
student's, for this server), so the service answers only about this student: the
notices it wrote for them, a submission of their own work. JupyterLab cannot call
the service itself: with per-user subdomains the service is on another origin, and
without them the service believes no cookie on a scripted request.

The service's address is the one the server already posts its events to
(COURSEHUB_EVENTS_URL, set by the spawner on every backend).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from coursehub.core.roles import SERVICE_NAME

EVENTS_SUFFIX = "/api/events"
# grading/paths.py NAME_RE: the names an assignment can have
ASSIGNMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,100}$")
TIMEOUT = 60.0


def service_url(environ: Mapping[str, str] = os.environ) -> str:
    """The service's base URL as this server reaches it ('' if unknown)."""
    events = environ.get("COURSEHUB_EVENTS_URL", "")
    return events[: -len(EVENTS_SUFFIX)] if events.endswith(EVENTS_SUFFIX) else ""


def service_page(path: str, environ: Mapping[str, str] = os.environ) -> str:
    """A page of the service as the student's browser reaches it (the hub's host, which
    differs from this server's with per-user subdomains)."""
    host = environ.get("JUPYTERHUB_HOST", "")
    base = environ.get("JUPYTERHUB_BASE_URL", "/")
    return f"{host}{base}services/{SERVICE_NAME}/{path}"


def error_message(body: bytes, status: int) -> str:
    """The service's message in its one error shape, or a plain word on the status."""
    try:
        message = json.loads(body)["error"]["message"]
        if isinstance(message, str) and message:
            return message[:500]
    except (ValueError, KeyError, TypeError):
        pass
    if status == 599:
        return "the course service did not answer; try again in a moment"
    return f"the course service answered {status}"


class ServiceClient:
    """Calls to the service with this server's token, for course `course`."""

    def __init__(self, base: str, token: str, course: str) -> None:
        self.base = base.rstrip("/")
        self.course = course
        self._headers = {"Authorization": f"token {token}"}

    async def _fetch(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        from tornado.httpclient import AsyncHTTPClient

        try:
            response = await AsyncHTTPClient().fetch(
                f"{self.base}/{path}",
                method=method,
                body=body,
                headers={**self._headers, **(headers or {})},
                raise_error=False,
                request_timeout=TIMEOUT,
                follow_redirects=False,
            )
        except Exception:  # the service restarting, a network error
            return 599, b""
        return response.code, response.body or b""

    async def notice(self, notice_id: str) -> tuple[int, Any]:
        """The service's notice `notice_id` for this student and course."""
        code, body = await self._fetch(
            "GET", f"api/lab/notices/{notice_id}?course={quote(self.course, safe='')}"
        )
        try:
            return code, json.loads(body) if code == 200 else None
        except ValueError:
            return 502, None

    async def submit(self, assignment: str, key: str) -> tuple[int, dict[str, Any]]:
        """Submit the student's assignment folder; (status, the service's answer, with
        the assignment page's address) or (status, {"message": why not})."""
        name = quote(assignment, safe="")
        path = f"api/courses/{quote(self.course, safe='')}/assignments/{name}/submit"
        code, body = await self._fetch("POST", path, b"", {"Idempotency-Key": key})
        if code not in (200, 201):
            return code if 400 <= code < 600 else 502, {"message": error_message(body, code)}
        try:
            answer = json.loads(body)
        except ValueError:
            return 502, {"message": "the course service's answer was not JSON"}
        page = f"course/{quote(self.course, safe='')}/assignments/{name}"
        return code, {**answer, "page": service_page(page)}
