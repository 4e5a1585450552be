"""`/health`: is the service, the hub API and the coursehub database answering?"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from coursehub.service.context import context_of
from coursehub.service.identity import IdentityResolver

log = logging.getLogger("coursehub.service")

DB_TIMEOUT = 5.0


class HealthChecker:
    """Runs the checks, sharing one result between callers for `ttl` seconds so an
    unauthenticated endpoint cannot be used to hammer the hub or the database."""

    def __init__(
        self,
        resolver: IdentityResolver,
        database_url: str | None,
        version: str,
        ttl: float = 2.0,
    ):
        self.resolver = resolver
        self.database_url = database_url
        self.version = version
        self.ttl = ttl
        self._engine: Engine | None = None
        self._lock = asyncio.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def report(self) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            if self._cached and now - self._cached[0] < self.ttl:
                return self._cached[1]
            hub_ok, database = await asyncio.gather(self.resolver.hub_ok(), self._database())
            healthy = hub_ok and database in ("ok", "not configured")
            report = {
                "status": "ok" if healthy else "degraded",
                "hub": "ok" if hub_ok else "unreachable",
                "database": database,
                "version": self.version,
            }
            self._cached = (now, report)
            return report

    async def _database(self) -> str:
        if not self.database_url:
            return "not configured"
        try:
            with anyio.fail_after(DB_TIMEOUT):
                await anyio.to_thread.run_sync(self._select_one, abandon_on_cancel=True)
        except Exception as exc:
            # Only the class name: driver messages can include hosts or user names.
            log.warning("database check failed: %s", exc.__class__.__name__)
            return "unreachable"
        return "ok"

    def _select_one(self) -> None:
        if self._engine is None:
            from coursehub.db.session import make_engine

            self._engine = make_engine(self.database_url or "")
        with self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


router = APIRouter()


@router.get("/health", include_in_schema=False)
async def health(request: Request) -> JSONResponse:
    """Unauthenticated; 200 when every configured part answers, 503 otherwise."""
    report = await context_of(request.app).health.report()
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
