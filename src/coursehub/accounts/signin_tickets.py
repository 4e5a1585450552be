"""One-time sign-in tickets: how the service, having verified who someone is (an LTI
launch), lets the hub sign them in. A ticket is random, lives two minutes, works once,
and only its sha256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update

from ..db.models import SignInTicket
from ..db.session import Database

TICKET_SECONDS = 120
MAX_TICKET_CHARS = 100


@dataclass(frozen=True)
class Redeemed:
    username: str
    next_url: str


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class SignInTickets:
    def __init__(self, db: Database) -> None:
        self.db = db

    def issue(self, username: str, next_url: str, ttl_seconds: int = TICKET_SECONDS) -> str:
        """A new ticket for `username`, landing on `next_url` (a path on this site)."""
        ticket = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.db.session() as s:
            # Expired tickets are useless: drop them as new ones are made.
            s.execute(delete(SignInTicket).where(SignInTicket.expires_at < now))
            s.add(
                SignInTicket(
                    ticket_hash=_hash(ticket),
                    username=username,
                    next_url=next_url,
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl_seconds),
                )
            )
        return ticket

    def redeem(self, ticket: str) -> Redeemed | None:
        """Who the ticket signs in, or None when it is unknown, expired or used."""
        if not ticket or len(ticket) > MAX_TICKET_CHARS:
            return None
        key, now = _hash(ticket), datetime.now(UTC)
        with self.db.session() as s:
            # One UPDATE decides who wins when the same ticket is redeemed twice at once.
            won = s.execute(
                update(SignInTicket)
                .where(
                    SignInTicket.ticket_hash == key,
                    SignInTicket.used_at.is_(None),
                    SignInTicket.expires_at >= now,
                )
                .values(used_at=now)
            ).rowcount
            if won != 1:
                return None
            row = s.get(SignInTicket, key)
            assert row is not None
            return Redeemed(row.username, row.next_url)
