"""HTML pages for signed-in people."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from .auth import page_user
from .identity import HubUser
from .templating import render

router = APIRouter()

ROLE_LABELS = {
    "admin": "administrator",
    "instructor": "instructor",
    "ta": "teaching assistant",
    "student": "student",
    "service": "service",
}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request, user: Annotated[HubUser, Depends(page_user)]) -> HTMLResponse:
    return render(
        request,
        "home.html",
        user=user,
        role=user.role,
        role_label=ROLE_LABELS.get(user.role, user.role),
    )
