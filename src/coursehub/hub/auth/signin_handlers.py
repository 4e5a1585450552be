"""Hub pages that sign in someone coursehub has already verified elsewhere.

- `/hub/coursehub/signin?ticket=T` (method lti): the coursehub service validated an LTI
  launch and issued a one-time ticket (accounts.signin_tickets).
- `/hub/login?auth_token=JWT` and `/hub/jwt_login?auth_token=JWT` (method jwt): a link made
  by an LMS plugin, checked by hub.auth.jwt; each link works once.

Both go through JupyterHub's `login_user`, so blocked users, check_allowed and
post_auth_hook still apply. Neither the ticket nor the token is ever logged: the query is
dropped from the request line before anything can log it.
"""

from __future__ import annotations

import asyncio
from http.client import responses
from typing import Any

from jupyterhub.handlers.base import BaseHandler
from jupyterhub.handlers.login import LoginHandler
from jupyterhub.utils import url_path_join

from coursehub.hub.auth.common import verified_sign_in
from coursehub.hub.auth.jwt import (
    JwtSignInRefused,
    ensure_account,
    use_once,
    verify_signin_link,
)

TICKET_REFUSED = (
    "This sign-in link has expired or was already used. Open coursehub again from your LMS."
)
NOT_ALLOWED = "Your account may not sign in to this site. Ask your instructor."
MAX_NEXT_CHARS = 2000


def safe_next_url(url: str | None, fallback: str) -> str:
    """`url` if it is a path on this site, else `fallback`.

    Only paths: one leading '/', no '//' (another host), no backslash (which browsers
    read as '/'), no spaces or control characters (headers)."""
    if (
        not url
        or len(url) > MAX_NEXT_CHARS
        or not url.startswith("/")
        or "//" in url
        or "\\" in url
        or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url)
    ):
        return fallback
    return url


class _SignInSteps(BaseHandler):
    """What both kinds of link do once the identity is known."""

    def _forget_query(self) -> None:
        # The request line is logged when the request ends (and by tornado on errors).
        self.request.uri = self.request.path

    async def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        html = await self.render_template(
            "error.html", status_code=status, status_message=responses[status], message=message
        )
        self.finish(html)

    async def _sign_in(self, username: str, method: str, next_url: str | None) -> None:
        user = await self.login_user(verified_sign_in(username, method))
        if user is None:
            self.log.warning("Sign-in (%s) of %r refused by the authenticator", method, username)
            await self._refuse(403, NOT_ALLOWED)
            return
        self.redirect(safe_next_url(next_url, self._landing_url()))

    def _landing_url(self) -> str:
        """Where a sign-in without a next page goes: the hub's default_url (the
        coursehub home), as JupyterHub's own login does."""
        landing = self.default_url
        if callable(landing):
            landing = landing(self)
        return landing or url_path_join(self.hub.base_url, "home")

    async def _jwt_sign_in(self) -> None:
        token = self.get_argument("auth_token", "")
        next_url = self.get_argument("next", "")
        self._forget_query()
        auth: Any = self.authenticator
        try:
            username, claims = verify_signin_link(token, auth.jwt_signin)
            store, create = auth.account_store, auth.jwt_signin.create_accounts
            # burnt by its first use, whatever comes of it
            await asyncio.to_thread(use_once, store.db, claims, auth.jwt_signin)
            if await asyncio.to_thread(ensure_account, store, username, create):
                self.log.info("Student account %r made for a sign-in link", username)
        except JwtSignInRefused as exc:
            self.log.warning("Sign-in link refused (%s): %s", exc.code, exc.detail)
            await self._refuse(401, exc.page_message)
            return
        await self._sign_in(username, "jwt", next_url)


class TicketSignInHandler(_SignInSteps):
    """One-time tickets from LTI launches the coursehub service validated."""

    async def get(self) -> None:
        ticket = self.get_argument("ticket", "")
        self._forget_query()
        from coursehub.accounts.signin_tickets import BINDING_COOKIE, SignInTickets

        binding = self.get_cookie(BINDING_COOKIE, "")
        self.clear_cookie(BINDING_COOKIE, path=self.request.path)
        tickets = SignInTickets(self.authenticator.account_store.db)
        redeemed = await asyncio.to_thread(tickets.redeem, ticket, binding)
        if redeemed is None:
            self.log.warning(
                "LMS sign-in ticket refused: unknown, expired, already used or from "
                "another browser (%s binding cookie)",
                "with a" if binding else "no",
            )
            await self._refuse(403, TICKET_REFUSED)
            return
        await self._sign_in(redeemed.username, "lti", redeemed.next_url)


class JwtLoginHandler(_SignInSteps):
    """`/hub/jwt_login?auth_token=...`; without a token, the login page."""

    async def get(self) -> None:
        if self.get_argument("auth_token", None) is None:
            self.redirect(self.settings["login_url"])
            return
        await self._jwt_sign_in()


class CoursehubLoginHandler(_SignInSteps, LoginHandler):
    """JupyterHub's login page, which also takes `?auth_token=` links."""

    async def get(self) -> None:
        if self.get_argument("auth_token", None) is not None:
            await self._jwt_sign_in()
            return
        await super().get()


def signin_handlers(methods: list[str]) -> list[tuple[str, Any]]:
    """The hub routes (below /hub/) our sign-in methods need."""
    handlers: list[tuple[str, Any]] = []
    if "jwt" in methods:
        handlers += [(r"/login", CoursehubLoginHandler), (r"/jwt_login", JwtLoginHandler)]
    if "lti" in methods:
        handlers.append((r"/coursehub/signin", TicketSignInHandler))
    return handlers
