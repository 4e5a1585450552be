"""All of the plugin's routes under one prefix; its URL settings point here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from coursehub.service.routes.moodle_compat import contents, gradeservice, hub_api, signin
from coursehub.service.routes.moodle_compat.credentials import CompatConfigError
from coursehub.service.routes.moodle_compat.mapping import secrets_of, section
from coursehub.service.routes.moodle_compat.signin import check_link_secret

log = logging.getLogger("coursehub.service")

PREFIX = "/compat/moodle-jupyter"
PAGE_PARTS = ("/hub/user-redirect/", "/open/")  # opened by a browser; the rest is API


@asynccontextmanager
async def _check_secrets_at_start(app: FastAPI) -> AsyncIterator[None]:
    """A short, readable or missing secret stops the service at start-up."""
    if section(app).enabled:
        try:
            secrets_of(app)
            check_link_secret(app)
        except CompatConfigError as exc:
            log.critical("the Moodle plugin's routes cannot start: %s", exc)
            raise
    yield


router = APIRouter(prefix=PREFIX, lifespan=_check_secrets_at_start)
for part in (gradeservice, hub_api, contents, signin):
    router.include_router(part.router)


def answers_json(path_in_service: str) -> bool:
    """Whether an error at this path (below the service prefix) is JSON for the plugin."""
    inside = "/" + path_in_service
    return inside.startswith(PREFIX + "/") and not any(p in inside for p in PAGE_PARTS)
