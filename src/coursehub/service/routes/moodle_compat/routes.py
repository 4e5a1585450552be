"""All of the plugin's routes under one prefix; its URL settings point here."""

from __future__ import annotations

from fastapi import APIRouter

from coursehub.service.routes.moodle_compat import contents, gradeservice, hub_api, signin

PREFIX = "/compat/moodle-jupyter"
PAGE_PARTS = ("/hub/user-redirect/", "/open/")  # opened by a browser; the rest is API

router = APIRouter(prefix=PREFIX)
for part in (gradeservice, hub_api, contents, signin):
    router.include_router(part.router)


def answers_json(path_in_service: str) -> bool:
    """Whether an error at this path (below the service prefix) is JSON for the plugin."""
    inside = "/" + path_in_service
    return inside.startswith(PREFIX + "/") and not any(p in inside for p in PAGE_PARTS)
