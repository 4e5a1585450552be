"""LTI 1.3 endpoints of the service. For now the tool's public keys, which platforms
fetch to check what coursehub signs; public on purpose, like any JWKS."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from ..config.layout import DataLayout
from ..lti.keys import ensure_tool_key, jwks
from .errors import ApiError

router = APIRouter()

TOOL_KEY_FILE = "lti_tool_key.pem"


def tool_key_path(data_dir: str | None) -> Path:
    if not data_dir:
        raise ApiError(404, "LTI needs the site's data directory; it is not configured.")
    return DataLayout(Path(data_dir)).secret_file(TOOL_KEY_FILE)


@router.get("/lti/jwks.json")
async def tool_jwks(request: Request) -> JSONResponse:
    path = tool_key_path(request.app.state.settings.data_dir)
    key = await asyncio.to_thread(ensure_tool_key, path)
    return JSONResponse(jwks(key), headers={"Cache-Control": "public, max-age=300"})
