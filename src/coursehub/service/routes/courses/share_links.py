"""Shared notebook snapshots: public to whoever has the unguessable link."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from coursehub.courses.shares import SNAPSHOT_CSP
from coursehub.service.context import context_of
from coursehub.service.errors import error_response

router = APIRouter()


@router.get("/shared/{token}", include_in_schema=False)
async def shared_snapshot(request: Request, token: str) -> Response:
    html = await asyncio.to_thread(context_of(request.app).shares.snapshot, token)
    if html is None:
        return error_response(
            request, 404, "There is no shared notebook at this address (it may have been unshared)."
        )
    return HTMLResponse(
        html,
        headers={"Content-Security-Policy": SNAPSHOT_CSP, "X-Robots-Tag": "noindex"},
    )
