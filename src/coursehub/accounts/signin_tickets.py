"""One-time sign-in tickets: how the service, having verified who someone is (an LTI
launch), lets the hub sign them in. A ticket is random, lives two minutes, works once,
and only its sha256 is stored.

A ticket is also bound to the browser it was issued to (a random value in a cookie
only the sign-in page sees): a ticket link sent to someone else does not sign their
browser into the sender's account (login CSRF)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, update

from coursehub.db.models import SignInTicket
from coursehub.db.session import Database

TICKET_SECONDS = 120
MAX_TICKET_CHARS = 100
BINDING_COOKIE = "coursehub-signin-binding"


@dataclass(frozen=True)
class Redeemed:
    username: str
    next_url: str


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class SignInTickets:
    def __init__(self, db: Database) -> None:
        self.db = db

    def issue(
        self, username: str, next_url: str, binding: str, ttl_seconds: int = TICKET_SECONDS
    ) -> str:
        """A new ticket for `username`, landing on `next_url` (a path on this site),
        redeemable only with `binding` (see new_binding)."""
        ticket = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.db.session() as s:
            # Expired tickets are useless: drop them as new ones are made.
            s.execute(delete(SignInTicket).where(SignInTicket.expires_at < now))
            s.add(
                SignInTicket(
                    ticket_hash=_hash(ticket),
                    binding_hash=_hash(binding),
                    username=username,
                    next_url=next_url,
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl_seconds),
                )
            )
        return ticket

    def redeem(self, ticket: str, binding: str) -> Redeemed | None:
        """Who the ticket signs in, or None when it is unknown, expired, used or
        brought by another browser than the one it was issued to."""
        if not ticket or len(ticket) > MAX_TICKET_CHARS or not binding:
            return None
        if len(binding) > MAX_TICKET_CHARS:
            return None
        key, now = _hash(ticket), datetime.now(UTC)
        with self.db.session() as s:
            # One UPDATE decides who wins when the same ticket is redeemed twice at once.
            won = cast(
                CursorResult[Any],
                s.execute(
                    update(SignInTicket)
                    .where(
                        SignInTicket.ticket_hash == key,
                        SignInTicket.used_at.is_(None),
                        SignInTicket.expires_at >= now,
                    )
                    .values(used_at=now)
                ),
            ).rowcount
            if won != 1:
                return None
            row = s.get(SignInTicket, key)
            assert row is not None
            # Used up either way: a ticket tried from the wrong browser is burnt.
            if not hmac.compare_digest(row.binding_hash, _hash(binding)):
                return None
            return Redeemed(row.username, row.next_url)


def new_binding() -> str:
    return secrets.token_urlsafe(24)
