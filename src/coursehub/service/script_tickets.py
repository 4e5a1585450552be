"""Tickets our pages hand their own scripts: an HMAC of the visitor's signed token
cookie (HttpOnly, so other scripts on this origin cannot compute it) and what the
script may ask about. Scripts cannot use the sign-in cookie on their own (see
service/forms.py); with the ticket they can, for that one purpose."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from coursehub.service.auth import identify, resolver_of
from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser


def script_ticket(request: Request, *purpose: str) -> str:
    """The ticket for `purpose` (e.g. "live", course); empty without a sign-in cookie."""
    raw = request.cookies.get(resolver_of(request).token_cookie_name)
    if not raw:
        return ""
    key = context_of(request.app).cookie_key
    message = "|".join([*purpose, raw]).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:40]


async def ticket_user(request: Request, expected: str, expired: str) -> HubUser:
    """The signed-in visitor whose page's script sent the `expected` ticket (?ticket=);
    `expired` is said when it did not."""
    sent = request.query_params.get("ticket", "")
    if not (expected and hmac.compare_digest(sent.encode(), expected.encode())):
        raise ApiError(403, expired)
    user = await identify(request, form_checked=True)
    return allowed(request, user)


def allowed(request: Request, user: HubUser | None) -> HubUser:
    """`user`, signed in and allowed on this site."""
    if user is None:
        raise ApiError(401, "Sign in first.")
    if not resolver_of(request).has_access(user):
        raise ApiError(403, "Your hub account is not allowed to use this site.")
    return user
