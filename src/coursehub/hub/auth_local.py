"""Sign-in with a username and password from the coursehub roster."""

from __future__ import annotations

import asyncio
from typing import Any

from jupyterhub.auth import Authenticator

from .auth_common import CoursehubAuthenticatorMixin

# Longer input is refused before hashing so nobody can make the hub hash megabytes.
MAX_PASSWORD_CHARS = 1024


class CoursehubLocalAuthenticator(CoursehubAuthenticatorMixin, Authenticator):
    """Accounts and bcrypt password hashes live in the coursehub database.

    Accounts can be added and removed while the hub runs (`coursehub users ...`):
    every sign-in and every refresh reads the database.
    """

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        username = (data.get("username") or "").strip().lower()
        password = data.get("password") or ""
        if not username or not password or len(password) > MAX_PASSWORD_CHARS:
            return None
        # bcrypt takes tens of milliseconds: keep the hub's event loop free meanwhile.
        account = await asyncio.to_thread(self.account_store.authenticate, username, password)
        if account is None:
            self.log.warning("Failed sign-in for %r", username[:64])
            return None
        return self.auth_model(account.username, self.role_for(account.username, account.role))

    def check_allowed(self, username: str, authentication: dict[str, Any] | None = None) -> bool:
        # Only roster accounts get past authenticate(); nobody else is allowed.
        return authentication is not None

    async def refresh_user(self, user: Any, handler: Any = None) -> bool | dict[str, Any]:
        """Drop sessions of removed accounts and pick up role changes."""
        account = await asyncio.to_thread(self.account_store.get, user.name)
        if account is None:
            return False
        return self.auth_model(account.username, self.role_for(account.username, account.role))
