"""Sign-in with a username and password from the coursehub roster."""

from __future__ import annotations

from typing import Any

from jupyterhub.auth import Authenticator
from tornado import web
from traitlets import Integer

from coursehub.hub.auth.common import CoursehubAuthenticatorMixin
from coursehub.hub.auth.password_pool import run_password_check
from coursehub.hub.auth.throttle import LoginThrottle

# Longer input is refused before hashing so nobody can make the hub hash megabytes.
MAX_PASSWORD_CHARS = 1024


class PasswordSignInMixin(CoursehubAuthenticatorMixin):
    """Accounts and bcrypt password hashes live in the coursehub database.

    Accounts can be added and removed while the hub runs (`coursehub users ...`):
    every sign-in and every refresh reads the database.
    """

    max_failed_logins = Integer(
        10, config=True, help="Failed sign-ins that lock an account for lockout_seconds."
    )
    lockout_seconds = Integer(600, config=True, help="How long too many failures lock out.")

    _throttle: LoginThrottle | None = None

    @property
    def throttle(self) -> LoginThrottle:
        if self._throttle is None:
            self._throttle = LoginThrottle(self.max_failed_logins, self.lockout_seconds)
        return self._throttle

    async def password_sign_in(self, data: dict[str, Any]) -> dict[str, Any] | None:
        username = data.get("username")
        password = data.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return None
        username = username.strip().lower()[:64]
        if not username or not password or len(password) > MAX_PASSWORD_CHARS:
            return None
        wait = self.throttle.locked_for(username)
        if wait:
            self.log.warning("Sign-in for %r refused: too many failures", username)
            minutes = max(1, round(wait / 60))
            raise web.HTTPError(
                429,
                f"Too many failed sign-ins for this account. Try again in {minutes} minute(s), "
                "or ask your instructor to reset your password.",
            )

        # bcrypt takes tens of milliseconds: off the event loop, and off the thread pool
        # that starts share (password_pool.py).
        def check() -> tuple[Any, tuple[str, ...]]:
            account = self.account_store.authenticate(username, password)
            return account, () if account is None else self.signins.methods_of(account.username)

        account, methods = await run_password_check(check)
        if account is None:
            self.throttle.failed(username)
            self.log.warning("Failed sign-in for %r", username)
            return None
        self.throttle.succeeded(username)
        role = self.role_for(account.username, account.role, methods)
        return self.auth_model(account.username, role, "local")


class CoursehubLocalAuthenticator(PasswordSignInMixin, Authenticator):
    """Passwords, plus LMS tickets and `?auth_token=` links when those methods are on."""
