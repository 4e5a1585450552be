"""What every coursehub authenticator shares: the sign-in methods offered together, roles
from the coursehub database, and identities our own hub pages have already verified.

Each sign-in opens only an account its method may open (accounts.signins): one person,
one account, whatever names the methods choose. Roles granted by username
(`role_overrides`, keyed method:username) apply through those methods only.

JupyterHub has one authenticator. Ours dispatches inside `authenticate()` on what the
data is: form fields (password sign-in), None (the OAuth callback, GitHub), or a
`_VerifiedSignIn` made by our sign-in pages (LMS tickets, `?auth_token=` links). Form
data is always a dict of strings, so it can never pass for the latter.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from traitlets import Bool, Dict, Integer, List, Unicode
from traitlets.config import LoggingConfigurable

from coursehub.core.roles import groups_for_role

# Where the sign-in method is remembered: JupyterHub stores `user_info` with the user.
METHOD_KEY = "coursehub_signin"
VERIFIED_METHODS = ("lti", "jwt")


@dataclass(frozen=True, slots=True)
class _VerifiedSignIn:
    """Someone our own hub pages verified; private so nothing else can make one."""

    username: str
    method: str

    def get(self, key: str, default: Any = None) -> Any:
        # JupyterHub logs `data.get("username")` when a sign-in is refused.
        return self.username if key == "username" else default


def verified_sign_in(username: str, method: str) -> Any:
    """The data to pass to `login_user` for a user verified by `method` (lti or jwt)."""
    if method not in VERIFIED_METHODS:
        raise ValueError(f"unknown verified sign-in method {method!r}")
    return _VerifiedSignIn(username, method)


def signin_method_of(user_info: Any) -> str | None:
    """The sign-in method recorded in an auth model's (or a user's) `user_info`."""
    value = user_info.get(METHOD_KEY) if isinstance(user_info, dict) else None
    return value if isinstance(value, str) else None


def hub_has(user: Any, model: dict[str, Any]) -> bool:
    """Whether the hub's user already has the admin flag, groups and sign-in method of
    `model`: then applying it would change nothing, and JupyterHub is spared the
    writes (default roles, groups, a commit) it does for every model it is given."""
    groups = {g.name for g in getattr(user, "groups", ())}
    return (
        bool(getattr(user, "admin", False)) == model["admin"]
        and groups == set(model["groups"])
        and getattr(user, "user_info", None) == model.get("user_info")
    )


class CoursehubAuthenticatorMixin(LoggingConfigurable):
    """Turns a coursehub role into the hub's admin flag and role group, and routes each
    sign-in to the method it belongs to."""

    coursehub_db_url = Unicode(
        "", config=True, help="SQLAlchemy URL of the coursehub database (accounts)."
    )
    role_overrides = Dict(
        config=True,
        help="method:username -> role from coursehub.yaml's roles section (a bare name "
        "there is local:name); wins over the roster.",
    )
    min_password_length = Integer(8, config=True, help="Shortest accepted password.")
    signin_methods = List(
        Unicode(),
        default_value=["local"],
        config=True,
        help="Sign-in methods offered together: local, github, lti, jwt.",
    )
    jwt_audience = Unicode("coursehub", config=True, help="Required `aud` of sign-in links.")
    jwt_issuer = Unicode("", config=True, help="Required `iss` of sign-in links (empty: any).")
    jwt_secret_file = Unicode("", config=True, help="HS256 shared secret file (mode 600).")
    jwt_public_key_file = Unicode("", config=True, help="RSA public key (PEM) for RS256.")
    jwt_username_claim = Unicode("username", config=True, help="Claim naming the user.")
    jwt_create_accounts = Bool(
        False, config=True, help="Make a student account for an unknown user of a valid link."
    )

    _account_store: Any = None
    _signins: Any = None
    jwt_signin: Any = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if "jwt" in self.signin_methods:
            # Read at start-up: a missing, short or readable secret stops the hub here.
            from coursehub.hub.auth.jwt import load_jwt_signin

            self.jwt_signin = load_jwt_signin(
                audience=self.jwt_audience,
                issuer=self.jwt_issuer or None,
                secret_file=self.jwt_secret_file or None,
                public_key_file=self.jwt_public_key_file or None,
                username_claim=self.jwt_username_claim,
                create_accounts=self.jwt_create_accounts,
            )

    @property
    def account_store(self) -> Any:
        # Imported lazily: the hub loads authenticator classes before config is final.
        if self._account_store is None:
            from coursehub.accounts.store import AccountStore
            from coursehub.db.session import Database

            self._account_store = AccountStore(
                Database(self.coursehub_db_url), min_password_length=self.min_password_length
            )
        return self._account_store

    @property
    def signins(self) -> Any:
        if self._signins is None:
            from coursehub.accounts.signins import AccountSignIns

            self._signins = AccountSignIns(self.account_store.db)
        return self._signins

    def role_for(self, username: str, stored_role: str | None, methods: tuple[str, ...]) -> str:
        """The override granted to this account's methods, else its stored role."""
        from coursehub.accounts.signins import role_override

        override = role_override(self.role_overrides, username, methods)
        return override or stored_role or "student"

    def auth_model(
        self, username: str, role: str, method: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """The model JupyterHub expects; `groups` is authoritative (manage_groups)."""
        model = {
            "name": username,
            "admin": role == "admin",
            "groups": groups_for_role(role),
            **extra,
        }
        if method is not None:
            model["user_info"] = {METHOD_KEY: method}
        return model

    # -- sign-in ---------------------------------------------------------------

    async def authenticate(self, handler: Any, data: Any = None) -> dict[str, Any] | None:
        if isinstance(data, _VerifiedSignIn):
            if data.method not in self.signin_methods:
                return None
            return await self._account_model(data.username, data.method)
        if isinstance(data, dict):
            if "local" not in self.signin_methods:
                return None
            return await self.password_sign_in(data)
        if data is None and "github" in self.signin_methods:
            return await self.oauth_sign_in(handler)
        return None

    async def password_sign_in(self, data: dict[str, str]) -> dict[str, Any] | None:
        """Username and password from the login form (see auth_local)."""
        return None

    async def oauth_sign_in(self, handler: Any) -> dict[str, Any] | None:
        """The OAuth callback of an external provider (see auth_github)."""
        return None

    async def oauth_allowed(self, username: str, authentication: dict[str, Any]) -> bool:
        return False

    async def oauth_refresh(self, user: Any, handler: Any) -> bool | dict[str, Any]:
        return False

    async def _account_model(self, username: str, method: str) -> dict[str, Any] | None:
        from coursehub.accounts.signins import IdentityConflict

        try:
            claimed = await asyncio.to_thread(self.signins.claim, username, method)
        except IdentityConflict as exc:
            self.log.warning("Sign-in (%s) for %r refused: %s", method, username, exc)
            return None
        if claimed is None:
            self.log.warning("Sign-in (%s) for %r refused: no such account", method, username)
            return None
        account = claimed.account
        role = self.role_for(account.username, account.role, claimed.methods)
        return self.auth_model(account.username, role, method)

    async def check_allowed(
        self, username: str, authentication: dict[str, Any] | None = None
    ) -> bool:
        method = signin_method_of((authentication or {}).get("user_info"))
        if method == "github":
            return await self.oauth_allowed(username, authentication or {})
        # Our own methods only get this far for accounts in the coursehub database.
        return method in ("local", *VERIFIED_METHODS) and method in self.signin_methods

    async def refresh_user(self, user: Any, handler: Any = None) -> bool | dict[str, Any]:
        """Drop sessions of removed accounts and pick up role changes; True (nothing for
        the hub to write) when the hub already has what the account says.

        GitHub users are refreshed by OAuthenticator; everyone else has an account row.
        """
        method = signin_method_of(getattr(user, "user_info", None))
        if method is None and "github" in self.signin_methods:
            method = "github"  # signed in before the method was recorded: most likely GitHub
        # One indexed read, on the event loop and not in a thread: JupyterHub awaits this
        # refresh before it marks a start pending, and a wait for a busy thread pool
        # longer than its one second sent students to a "not running" page instead of
        # the start's progress (tests/integration/hub/test_spawn_pending_race.py).
        found = self.signins.account_with_methods(user.name)
        if found is None or method not in found[1]:
            # removed, or unlinked from the method this session was opened with
            return False
        account, methods = found
        if method == "github":
            return await self.oauth_refresh(user, handler)
        role = self.role_for(account.username, account.role, methods)
        model = self.auth_model(account.username, role, method)
        return True if hub_has(user, model) else model

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        from coursehub.hub.auth.signin_handlers import signin_handlers

        ours = signin_handlers(self.signin_methods)
        taken = {route for route, *_ in ours}
        # the Authenticator this mixin is combined with, after it in the MRO
        theirs = super().get_handlers(app)  # type: ignore[misc]
        return ours + [h for h in theirs if h[0] not in taken]
