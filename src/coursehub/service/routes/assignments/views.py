"""What the assignment pages share: how times, points and lateness read, their URLs,
the message shown after a form, and the caller's role in the course."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from markupsafe import Markup
from starlette.responses import RedirectResponse

from coursehub.core.times import (
    TimeTextError,
    input_value,
    local_zone,
    parse_time,
    utc,
    utc_text,
    zone_name,
    zone_named,
)
from coursehub.service.context import context_of
from coursehub.service.course_access import ANY_ROLE, INSTRUCTORS, STAFF_ROLES, course_for
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser

ATTEMPT_STATES = {
    "submitted": "submitted",
    "queued": "waiting to be graded",
    "running": "being graded",
    "done": "graded",
    "failed": "grading failed",
}


def when(value: datetime | str | None) -> Markup:
    """A moment on a page: a <time> element written in UTC, with UTC named, that
    static/times.js rewrites into the viewer's own time zone (named too)."""
    if not value:
        return Markup("—")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    moment = utc(value).astimezone(UTC)
    return Markup('<time datetime="{}" data-local>{}</time>').format(
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"), utc_text(moment)
    )


def late_text(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days {hours % 24} h"


def points(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def parse_due(text: str, zone: str = "") -> datetime | None:
    """A due date from a form (None when left empty). A datetime-local value has no
    zone: it is read in `zone`, the browser's time zone that static/times.js puts into
    the form, or without it in the server's. Text with an offset or zone name is read
    as written (core.times.parse_time)."""
    text = text.strip()
    if not text:
        return None
    try:
        return parse_time(text, default_zone=zone_named(zone) or local_zone())
    except TimeTextError as exc:
        raise ApiError(400, str(exc)) from None


# Errors a form's sender can fix: shown on the form again, with what they typed.
FORM_ERRORS = (400, 409, 413)


def shown_on_form(exc: ApiError) -> bool:
    """Whether `exc` is about what the form said (else the error page: not allowed,
    not found)."""
    return exc.status_code in FORM_ERRORS


def sentence(message: str) -> str:
    """A library's message (lower case, no full stop) as a sentence on a page."""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    if message.endswith((".", "!", "?")) or "\n" in message:  # (lines quoted from a file)
        return message
    return message + "."


_ABSOLUTE = re.compile(r"(?<![\w.])/(?:[\w.+-]+/)+([\w.+-]+)")


def without_paths(message: str, upload: Path, data_dir: Path) -> str:
    """An authoring error as the uploader can read it: files named as they uploaded
    them, and no folder of the server (nbgrader and otter name them)."""
    message = message.replace(f"{upload}/", "").replace(str(upload), "the uploaded files")
    message = message.replace(str(data_dir), "…")
    return _ABSOLUTE.sub(lambda m: m.group(1), message)


def form_values(form: Any) -> dict[str, str]:
    """What the sender typed, to fill the form in again (files cannot be; the XSRF
    field comes from the page)."""
    return {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "_xsrf"}


def time_zone() -> str:
    """The server's time zone, in which forms read times when no script says the
    browser's: UTC, or its name and abbreviation (Europe/Paris, CET)."""
    zone = local_zone()
    name = zone_name(zone)
    short = datetime.now(zone).tzname() or ""
    return name if short in ("", name) else f"{name}, {short}"


def form_time(value: datetime | None) -> dict[str, str]:
    """A moment as a datetime-local field shows it: in the server's zone (the one the
    form reads without a script) and in UTC for times.js to show in the browser's."""
    if value is None:
        return {"value": "", "utc": ""}
    return {
        "value": input_value(value, local_zone()),
        "utc": utc(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def page_url(request: Request, course: str, *parts: str) -> str:
    tail = "".join("/" + quote(p, safe="") for p in parts)
    return f"{context_of(request.app).settings.service_prefix}course/{quote(course)}{tail}"


def api_url(request: Request, course: str, name: str) -> str:
    prefix = context_of(request.app).settings.service_prefix
    return f"{prefix}api/courses/{quote(course)}/assignments/{quote(name)}"


def feedback_link(request: Request, course: str, name: str) -> Callable[[int, str], str]:
    """The feedback page of one graded notebook (feedback_page.py)."""
    base = page_url(request, course, "assignments", name, "feedback")
    return lambda sid, notebook: f"{base}/{sid}?notebook={quote(notebook)}"


def redirect_back(url: str, **params: Any) -> RedirectResponse:
    query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
    return RedirectResponse(f"{url}?{query}" if query else url, status_code=303)


def query_count(value: str | None) -> int | None:
    """A count our redirects put in a query string, or None for anything else (a
    link's text may be any: '²' is a digit to str.isdigit, not to int)."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 9:
        return None
    return int(value)


def notice_for(request: Request, messages: dict[str, str]) -> str:
    """The message a redirect after a form asked for (fixed texts, numbers only)."""
    for key, text in messages.items():
        n = query_count(request.query_params.get(key))
        if n is not None:
            return text.format(n=n, s="" if n == 1 else "s")
    return ""


async def course_role_of(
    request: Request, user: HubUser, course: str, allowed: tuple[str, ...] = ANY_ROLE
) -> tuple[Any, str]:
    """The course and the caller's role, if `allowed` (course_access.course_for)."""
    return await asyncio.to_thread(course_for, request, user, course, allowed)


async def staff_row(
    request: Request, user: HubUser, course: str, name: str, instructor: bool = False
) -> tuple[Any, str, Any]:
    """The course, the caller's role and the assignment, for the course's staff (its
    instructors when `instructor`): course_access's one check."""
    from coursehub.service.routes.assignments.api import _assignment

    allowed = INSTRUCTORS if instructor else STAFF_ROLES
    content, role = await course_role_of(request, user, course, allowed)
    row = await asyncio.to_thread(_assignment, request, course, name, role)
    return content, role, row
