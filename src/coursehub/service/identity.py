"""Who is calling: the identity model and the contract for resolving it through the hub.

The app only talks to an `IdentityResolver`; `hub_oauth.HubIdentityResolver` is the real one
(backed by JupyterHub's HubOAuth) and unit tests inject a fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from coursehub.core.errors import CoursehubError
from coursehub.core.roles import role_from_groups


class HubUnavailable(CoursehubError):
    """The hub did not answer (or answered with a server error) while checking identity."""


class OAuthFailed(CoursehubError):
    """The hub refused to exchange an OAuth code for a token."""


@dataclass(frozen=True)
class HubUser:
    """A hub user (or service) as the hub reports it for a token."""

    name: str
    admin: bool = False
    groups: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    kind: str = "user"

    @property
    def role(self) -> str:
        if self.kind == "service":
            return "service"
        return role_from_groups(list(self.groups), admin=self.admin)

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> HubUser:
        """From the JSON the hub returns at /hub/api/user."""
        return cls(
            name=str(model["name"]),
            admin=bool(model.get("admin", False)),
            groups=tuple(sorted(str(g) for g in model.get("groups") or ())),
            scopes=frozenset(str(s) for s in model.get("scopes") or ()),
            kind=str(model.get("kind") or "user"),
        )


@dataclass(frozen=True)
class PendingLogin:
    """An OAuth sign-in the service started and has not finished yet."""

    state: str
    cookie_name: str
    next_url: str
    code_verifier: str | None


class IdentityResolver(Protocol):
    """Resolves tokens to users and runs the hub's OAuth flow for browsers."""

    @property
    def token_cookie_name(self) -> str:
        """Name of the cookie that stores the OAuth token."""
        ...

    @property
    def state_cookie_name(self) -> str:
        """Base name of the short-lived cookies binding an OAuth flow to a browser."""
        ...

    async def user_for_token(self, token: str, session_id: str = "") -> HubUser | None:
        """The owner of `token`, or None if the hub does not know it.

        Raises HubUnavailable when the hub cannot be asked.
        """
        ...

    def has_access(self, user: HubUser) -> bool:
        """Whether the token behind `user` may use this service."""
        ...

    def begin_login(self, next_url: str, cookie_name: str) -> tuple[PendingLogin, str]:
        """Record a new sign-in; returns it and the hub URL to send the browser to."""
        ...

    def pending_login(self, state: str) -> PendingLogin | None:
        """A sign-in started by `begin_login`, if it is known and not expired."""
        ...

    def end_login(self, state: str) -> None:
        """Forget a sign-in (it succeeded or is being abandoned)."""
        ...

    async def token_for_code(self, code: str, code_verifier: str | None) -> str:
        """Exchange an OAuth code for a token. Raises OAuthFailed or HubUnavailable."""
        ...

    async def hub_ok(self) -> bool:
        """Whether the hub's API answers."""
        ...

    async def close(self) -> None:
        """Release connections at shutdown."""
        ...
