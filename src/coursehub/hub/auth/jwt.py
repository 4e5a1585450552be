"""`?auth_token=` sign-in links made by an LMS plugin.

The token is checked exactly as the remote grading API checks its bearer tokens
(grading.remote_auth: one algorithm chosen by the configured key, exp with leeway, iat,
at most an hour of lifetime, aud, iss); this module only adds the username claim, the
account rules and refusals worded for the person holding the link.

The links' usernames are the LMS's: a link opens only an account made by a link
(`create_accounts`) or one an admin linked to this method (`coursehub users link NAME
jwt`), never a local, GitHub or LTI account that happens to have the name. Each link
works once (accounts.signin_links).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursehub.accounts.roster import validate_username
from coursehub.config.secrets import read_secret
from coursehub.core.errors import CoursehubError, SetupError
from coursehub.grading.remote_auth import (
    RemoteAuthConfigError,
    RemoteAuthError,
    RemoteAuthSettings,
    verify_bearer,
)

NEXT_STEP = "Open coursehub again from your LMS; if it happens again, tell your instructor."

# remote_auth's refusal codes, in words a student can pass on.
_REASONS = {
    "token_expired": "the sign-in link has expired",
    "bad_audience": "the sign-in link was made for another site (audience)",
    "bad_issuer": "the sign-in link was made by another LMS or plugin (issuer)",
    "bad_signature": "the sign-in link's signature is not valid",
    "algorithm_not_allowed": "the sign-in link's signature is not valid (wrong algorithm)",
    "token_not_yet_valid": "the sign-in link is not valid yet (the LMS clock may be ahead)",
    "token_too_long_lived": "the sign-in link is valid for too long (one hour at most)",
    "missing_claim": "the sign-in link is incomplete",
    "link_used": "the sign-in link has already been used (each link works once)",
}
_DAMAGED = "the sign-in link is damaged"


class JwtSignInConfigError(CoursehubError):
    """auth.jwt cannot be used (missing, readable or short secret, bad key)."""

    exit_code = 2


class JwtSignInRefused(CoursehubError):
    """A refused link: `.code` and `.detail` for the log, `.reason` for the page."""

    def __init__(self, code: str, reason: str, detail: str) -> None:
        self.code, self.reason, self.detail = code, reason, detail
        super().__init__(f"{code}: {detail}")

    @property
    def page_message(self) -> str:
        return f"Sign-in refused: {self.reason}. {NEXT_STEP}"


@dataclass(frozen=True)
class JwtSignInSettings(RemoteAuthSettings):
    """The grading API's token settings, except that the issuer may go unchecked."""

    issuer: str | None = None  # type: ignore[assignment]
    username_claim: str = "username"
    create_accounts: bool = False

    def _problem(self) -> str | None:
        if not self.username_claim:
            return "set auth.jwt.username_claim (e.g. username or sub)"
        if self.issuer is not None:
            return super()._problem()
        try:  # every other check, as the grading API makes them
            RemoteAuthSettings(
                self.audience,
                "unchecked",
                secret=self.secret,
                public_key=self.public_key,
                leeway_seconds=self.leeway_seconds,
                max_lifetime_seconds=self.max_lifetime_seconds,
            )
        except RemoteAuthConfigError as exc:
            return str(exc)
        return None


def load_jwt_signin(
    *,
    audience: str,
    issuer: str | None,
    secret_file: str | Path | None,
    public_key_file: str | Path | None,
    username_claim: str = "username",
    create_accounts: bool = False,
) -> JwtSignInSettings:
    """Read the key: a private secret of 32 bytes or more, or an RSA public key."""
    secret = pem = None
    try:
        if secret_file:
            secret = read_secret(Path(secret_file)).encode()
        if public_key_file:
            pem = Path(public_key_file).read_text(errors="replace")
        return JwtSignInSettings(
            audience,
            issuer or None,
            secret=secret,
            public_key=pem,
            username_claim=username_claim,
            create_accounts=create_accounts,
        )
    except (SetupError, RemoteAuthConfigError) as exc:
        raise JwtSignInConfigError(f"auth.jwt: {exc}") from None
    except OSError as exc:
        where = exc.filename or secret_file or public_key_file
        raise JwtSignInConfigError(f"auth.jwt: cannot read {where}: {exc.strerror}") from None


def verify_signin_token(token: str, settings: JwtSignInSettings, now: float | None = None) -> str:
    """The username a valid token names; JwtSignInRefused otherwise."""
    return verify_signin_link(token, settings, now)[0]


def verify_signin_link(
    token: str, settings: JwtSignInSettings, now: float | None = None
) -> tuple[str, dict[str, Any]]:
    """The username a valid token names, and its verified claims; JwtSignInRefused
    otherwise."""
    try:
        claims = verify_bearer(f"Bearer {token}", settings, now)
    except RemoteAuthError as exc:
        raise JwtSignInRefused(exc.code, _REASONS.get(exc.code, _DAMAGED), str(exc)) from None
    return signin_username(claims, settings.username_claim), claims


def use_once(db: Any, claims: dict[str, Any], settings: JwtSignInSettings) -> None:
    """Record the link's first use; JwtSignInRefused when it was used before."""
    from coursehub.accounts.signin_links import UsedSignInLinks

    if not UsedSignInLinks(db).first_use(claims, settings.leeway_seconds):
        raise JwtSignInRefused("link_used", _REASONS["link_used"], "the link was used before")


def signin_username(claims: dict[str, Any], claim: str) -> str:
    value = claims.get(claim)
    if not isinstance(value, str) or not value:
        raise JwtSignInRefused(
            "no_username",
            f"the sign-in link does not say who you are (no {claim!r})",
            f"no string {claim!r} claim",
        )
    name = value.lower()
    problem = validate_username(name)
    if problem is not None:
        raise JwtSignInRefused(
            "bad_username", f"the sign-in link names an unusable account: {problem}", problem
        )
    return name


def ensure_account(store: Any, username: str, create: bool) -> bool:
    """Whether a link naming `username` may sign in; a new student account, opened by
    links only, is made when `create`.

    Returns True when the account was just made; JwtSignInRefused when unknown or an
    account of another sign-in method."""
    from coursehub.accounts.signins import AccountSignIns, IdentityConflict

    try:
        claimed = AccountSignIns(store.db).claim(username, "jwt", create=create)
    except IdentityConflict as exc:
        raise JwtSignInRefused(
            "other_method",
            f"the account {username!r} belongs to someone who signs in with another "
            "sign-in method; if it is yours, ask an admin to link it",
            str(exc),
        ) from None
    if claimed is None:
        raise JwtSignInRefused(
            "unknown_user",
            f"there is no coursehub account {username!r}; ask your instructor to add you",
            f"no account {username!r} and auth.jwt.create_accounts is off",
        )
    return claimed.created
