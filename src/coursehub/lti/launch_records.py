"""Validated launches kept for the page that follows them (choosing content for the
LMS, linking an LMS course): an unguessable id, an hour of life, used once."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, update

from coursehub.db.models import LtiLaunch
from coursehub.db.session import Database

LAUNCH_SECONDS = 3600
MAX_ID_CHARS = 64


@dataclass(frozen=True)
class LaunchRecord:
    id: str
    username: str
    platform_id: int
    context_pk: int | None
    message_type: str
    claims: dict[str, Any]
    used: bool


class LaunchStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(
        self,
        username: str,
        platform_id: int,
        context_pk: int | None,
        message_type: str,
        claims: dict[str, Any],
        ttl: int = LAUNCH_SECONDS,
    ) -> str:
        launch_id = secrets.token_urlsafe(24)
        now = datetime.now(UTC)
        with self.db.session() as s:
            s.execute(delete(LtiLaunch).where(LtiLaunch.expires_at < now - timedelta(days=1)))
            s.add(
                LtiLaunch(
                    id=launch_id,
                    username=username,
                    platform_id=platform_id,
                    context_pk=context_pk,
                    message_type=message_type,
                    claims=json.dumps(claims),
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl),
                )
            )
        return launch_id

    def get(self, launch_id: str) -> LaunchRecord | None:
        """The launch, or None when unknown or expired (used ones are returned, marked)."""
        if not launch_id or len(launch_id) > MAX_ID_CHARS:
            return None
        with self.db.session() as s:
            row = s.get(LtiLaunch, launch_id)
            if row is None:
                return None
            if row.expires_at < datetime.now(UTC):
                return None
            return LaunchRecord(
                row.id,
                row.username,
                row.platform_id,
                row.context_pk,
                row.message_type,
                json.loads(row.claims),
                row.used_at is not None,
            )

    def mark_used(self, launch_id: str) -> bool:
        """True for the first caller only."""
        with self.db.session() as s:
            won = cast(
                CursorResult[Any],
                s.execute(
                    update(LtiLaunch)
                    .where(LtiLaunch.id == launch_id, LtiLaunch.used_at.is_(None))
                    .values(used_at=datetime.now(UTC))
                ),
            ).rowcount
        return won == 1
