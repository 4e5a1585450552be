"""JSON API routes, all under <prefix>api/ (unknown ones get the JSON 404 from errors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from coursehub.service.auth import api_user
from coursehub.service.identity import HubUser

router = APIRouter()


class WhoAmI(BaseModel):
    name: str
    role: str
    groups: list[str]
    admin: bool


@router.get("/whoami", response_model=WhoAmI)
async def whoami(user: Annotated[HubUser, Depends(api_user)]) -> WhoAmI:
    """The caller as coursehub sees them: hub name, coursehub role, hub groups."""
    return WhoAmI(name=user.name, role=user.role, groups=list(user.groups), admin=user.admin)
