"""`?auth_token=` sign-in links work once.

A link is a signed token valid for up to an hour, and it ends up in browser history,
proxy logs, the LMS page's HTML and `Referer` headers. Whoever finds it must not sign
in with it again, so the first use is recorded until the link expires. A link is known
by its verified claims, not its text: the same claims re-encoded (base64 has spare
bits) are the same link.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from coursehub.db.models import UsedSignInLink
from coursehub.db.session import Database


def link_key(claims: dict[str, Any]) -> str:
    canonical = json.dumps(claims, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class UsedSignInLinks:
    def __init__(self, db: Database) -> None:
        self.db = db

    def first_use(self, claims: dict[str, Any], leeway_seconds: int = 0) -> bool:
        """True the first time a link with these (verified) claims is used, else False.

        Kept until the link's `exp` plus the leeway it is accepted with; expired
        records are dropped as new ones are made, so the table holds at most the links
        of the last hour."""
        now = datetime.now(UTC)
        exp = claims.get("exp")
        until = (
            datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else now
        ) + timedelta(seconds=max(leeway_seconds, 0) + 1)
        try:
            with self.db.session() as s:
                s.execute(delete(UsedSignInLink).where(UsedSignInLink.expires_at < now))
                s.add(UsedSignInLink(link_hash=link_key(claims), expires_at=until))
                s.flush()
        except IntegrityError:
            return False
        return True
