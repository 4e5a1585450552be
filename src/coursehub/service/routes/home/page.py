"""HTML pages for signed-in people."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from coursehub.config.layout import DataLayout
from coursehub.service.auth import page_user
from coursehub.service.context import context_of
from coursehub.service.identity import HubUser
from coursehub.service.routes.courses.disk_notice import disk_notice
from coursehub.service.routes.home.course_listing import courses_for
from coursehub.service.templating import render

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
    settings = context_of(request.app).settings
    courses = []
    notice = None
    if settings.database_url and settings.data_dir:
        layout = DataLayout(Path(settings.data_dir))
        courses = await asyncio.to_thread(
            courses_for, context_of(request.app).courses, layout, user.name, user.role
        )
        notice = await asyncio.to_thread(disk_notice, request.app, user.name)
    return render(
        request,
        "home/index.html",
        user=user,
        role=user.role,
        role_label=ROLE_LABELS.get(user.role, user.role),
        courses=courses,
        disk_notice=notice,
        course_url=lambda name: f"{settings.service_prefix}course/{quote(name)}",
    )
