"""OIDC login states: each login initiation gets a random `state` (also set in the
browser's cookie) and `nonce` (which the platform signs into the id_token). A launch
must bring back a state this browser was given, not yet used, within STATE_SECONDS,
and the nonce made with it: replays and cross-site launches fail here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, update

from coursehub.db.models import LtiState
from coursehub.db.session import Database
from coursehub.lti.launch_validation import LaunchRefused

STATE_SECONDS = 600
MAX_STATE_CHARS = 64


@dataclass(frozen=True)
class LoginState:
    state: str
    nonce: str
    platform_id: int


class StateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def begin(self, platform_id: int) -> LoginState:
        now = datetime.now(UTC)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.db.session() as s:
            # Old states are useless; drop them as new logins start (kept an hour so a
            # late replay is still told "already used" rather than "unknown").
            s.execute(delete(LtiState).where(LtiState.created_at < now - timedelta(hours=1)))
            s.add(LtiState(state=state, nonce=nonce, platform_id=platform_id, created_at=now))
        return LoginState(state, nonce, platform_id)

    def was_used(self, state: str) -> bool:
        if not state or len(state) > MAX_STATE_CHARS:
            return False
        with self.db.session() as s:
            row = s.get(LtiState, state)
            return row is not None and row.used_at is not None

    def consume(self, state: str) -> LoginState:
        """The login `state` belongs to, marked used; LaunchRefused otherwise."""
        if not state or len(state) > MAX_STATE_CHARS:
            raise LaunchRefused("bad_state", "the launch's state is missing or malformed", 403)
        now = datetime.now(UTC)
        with self.db.session() as s:
            won = cast(
                CursorResult[Any],
                s.execute(
                    update(LtiState)
                    .where(
                        LtiState.state == state,
                        LtiState.used_at.is_(None),
                        LtiState.created_at >= now - timedelta(seconds=STATE_SECONDS),
                    )
                    .values(used_at=now)
                ),
            ).rowcount
            row = s.get(LtiState, state)
            if won == 1 and row is not None:
                return LoginState(row.state, row.nonce, row.platform_id)
        if row is None:
            raise LaunchRefused(
                "bad_state",
                "the launch's state is not one coursehub issued (or it is too old)",
                403,
            )
        if row.used_at is not None and won != 1:
            raise LaunchRefused(
                "replayed",
                "this launch was already used (its nonce and state are single-use); "
                "open the activity again from the LMS",
                403,
            )
        raise LaunchRefused(
            "state_expired", "the launch took too long; open the activity again from the LMS", 403
        )
