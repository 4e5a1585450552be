"""How a student follows an attempt being graded: the banner after Submit says where it
is (waiting, being graded, graded with its points, or failed), and the assignment page
updates itself when grading ends.

The page's script asks `…/assignments/{name}/progress` every few seconds and reloads
the page once nothing is being graded. Scripts may not use the sign-in cookie (a
student's JupyterLab shares this origin: auth.cookie_auth_allowed), so the page hands
its script a ticket, an HMAC of the visitor's HttpOnly cookie that no other script
can compute (as the live view's stream does). Without a script, the page reloads
itself (a `<noscript>` refresh) while an attempt is being graded.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from coursehub.service.identity import HubUser
from coursehub.service.routes.assignments import api as grading_api
from coursehub.service.routes.assignments.views import course_role_of, points
from coursehub.service.script_tickets import script_ticket, ticket_user

router = APIRouter()

GRADING = ("queued", "running")  # an attempt's states while it waits for its result


def progress_ticket(request: Request, course: str, name: str) -> str:
    """What the assignment page hands its script to ask for the grading's progress."""
    return script_ticket(request, "progress", course, name)


async def _ticket_user(request: Request, course: str, name: str) -> HubUser:
    """The caller: the signed-in visitor whose page's script sent the right ticket."""
    expected = progress_ticket(request, course, name)
    return await ticket_user(request, expected, "This page has expired. Reload it.")


@router.get("/course/{course}/assignments/{name}/progress", include_in_schema=False)
async def progress(request: Request, course: str, name: str) -> dict[str, Any]:
    """Whether one of the caller's attempts is still being graded, and the latest one."""
    user = await _ticket_user(request, course, name)
    _content, role = await course_role_of(request, user, course)
    row = await asyncio.to_thread(grading_api._assignment, request, course, name, role)
    mine = await asyncio.to_thread(grading_api.submissions_of, request, row, user.name, False)
    attempts = mine["attempts"]
    latest = attempts[-1] if attempts else None
    return {
        "grading": any(a["status"] in GRADING for a in attempts),
        "latest": None
        if latest is None
        else {"attempt": latest["attempt"], "status": latest["status"], "total": latest["total"]},
    }


def submitted_notice(number: int, attempts: list[dict[str, Any]]) -> str:
    """The banner after Submit (`?submitted=N`), as attempt N stands now."""
    found = next((a for a in attempts if a["attempt"] == number), None)
    if found is None or found["status"] == "submitted":
        return f"Submitted: attempt {number}."
    if found["status"] in GRADING:
        return f"Submitted: attempt {number}. It is being graded; this page updates by itself."
    if found["status"] == "failed":
        why = found.get("outcome") or "the grader stopped"
        return f"Attempt {number} could not be graded: {why}. Your instructors can see why."
    total = f"{points(found['total'])} / {points(found['max'])} points"
    if found["pending_manual"]:
        return (
            f"Attempt {number} is graded: {total} so far. Some answers are graded by hand; "
            "their points come later."
        )
    return f"Attempt {number} is graded: {total}."
