"""Check the `Authorization: Bearer <JWT>` header LMS plugins send to the remote grading API.

Tokens are signed with a shared secret (HS256) or an RSA private key whose public half the
hub holds (RS256). The settings alone decide which: trusting the token's own `alg` would let
a caller pick "none", or sign HS256 with the (public) RSA key as the secret.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from coursehub.core.errors import CoursehubError

MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
MAX_TOKEN_BYTES = 8192
REQUIRED_CLAIMS = ["exp", "iat", "aud", "iss"]
# Times are checked by hand against `now` (PyJWT reads the clock itself), and `sub` too, so
# the result does not depend on the PyJWT version.
_OPTIONS: Any = {"require": REQUIRED_CLAIMS} | {
    f"verify_{claim}": False for claim in ("exp", "iat", "nbf", "sub")
}


class RemoteAuthConfigError(CoursehubError):
    """The grading API's token settings are unusable; the message says how to fix them."""

    exit_code = 2


class RemoteAuthError(CoursehubError):
    """A refused request: `.code` for programs, the message for people; never the token."""

    status = 401

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class RemoteAuthSettings:
    """What a valid token looks like; checked on creation so a bad key fails at start-up."""

    audience: str
    issuer: str
    secret: bytes | None = field(default=None, repr=False)  # kept out of logs
    public_key: str | None = None
    leeway_seconds: int = 30
    max_lifetime_seconds: int = 3600

    def __post_init__(self) -> None:
        if problem := self._problem():
            raise RemoteAuthConfigError(problem)

    def _problem(self) -> str | None:
        if not self.audience or not self.issuer:
            return "set both the expected audience and the issuer"
        if (self.secret is None) == (self.public_key is None):
            got = "both" if self.secret is not None else "neither"
            return f"give one of a shared secret (HS256) or an RSA public key (RS256), not {got}"
        if self.leeway_seconds < 0 or self.max_lifetime_seconds <= 0:
            return "leeway_seconds must be >= 0 and max_lifetime_seconds > 0 (e.g. 30, 3600)"
        if self.secret is not None and len(self.secret) < MIN_SECRET_BYTES:
            return (
                f"the shared secret is {len(self.secret)} bytes; "
                f"use at least {MIN_SECRET_BYTES} (openssl rand -hex 32)"
            )
        if self.secret is not None and self.secret.lstrip().startswith(b"-----BEGIN"):
            return "the shared secret is a PEM key; give it as the public key (RS256) instead"
        return _key_problem(self.public_key) if self.public_key is not None else None

    @property
    def algorithm(self) -> str:
        """The one algorithm accepted, implied by the kind of key configured."""
        return "HS256" if self.secret is not None else "RS256"


def _key_problem(pem: str) -> str | None:
    need = f"an RSA public key of at least {MIN_RSA_BITS} bits"
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return (
            f"the public key is not a PEM public key; give {need}, starting "
            "'-----BEGIN PUBLIC KEY-----' (openssl rsa -in private.pem -pubout)"
        )
    if not isinstance(key, rsa.RSAPublicKey):
        return f"the public key is not an RSA key; RS256 needs {need}"
    if key.key_size < MIN_RSA_BITS:
        return f"the RSA public key has {key.key_size} bits; use {need} (openssl genrsa 3072)"
    return None


def load_settings(
    audience: str, issuer: str, secret_file: Path | None, public_key_file: Path | None
) -> RemoteAuthSettings:
    """Read the key material from files, so secrets stay out of the configuration itself."""
    secret = _read(secret_file).rstrip() if secret_file is not None else None
    pem = _read(public_key_file).decode(errors="replace") if public_key_file is not None else None
    return RemoteAuthSettings(audience, issuer, secret=secret, public_key=pem)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise RemoteAuthConfigError(f"cannot read {path}: {why}; check the path") from None


def verify_bearer(
    header: str | None, settings: RemoteAuthSettings, now: float | None = None
) -> dict[str, Any]:
    """Return the verified claims or raise RemoteAuthError."""
    parts = (header or "").split()
    if not parts or (len(parts) == 1 and parts[0].lower() == "bearer"):
        raise RemoteAuthError("missing_token", "send 'Authorization: Bearer <token>'")
    if parts[0].lower() != "bearer":
        raise RemoteAuthError("bad_scheme", "the Authorization header must use the Bearer scheme")
    if len(parts) != 2:
        raise RemoteAuthError("malformed_header", "send exactly one token after 'Bearer'")
    token, alg = parts[1], settings.algorithm
    if len(token) > MAX_TOKEN_BYTES or not token.isascii():
        raise RemoteAuthError("malformed_token", f"tokens are ASCII, {MAX_TOKEN_BYTES} bytes max")
    try:
        token_alg = jwt.get_unverified_header(token).get("alg")
    except jwt.PyJWTError:
        raise RemoteAuthError("malformed_token", "the bearer token is not a JWT") from None
    if token_alg != alg:
        shown = str(token_alg)[:16]
        raise RemoteAuthError("algorithm_not_allowed", f"only {alg} is accepted, not {shown!r}")
    key = settings.secret if settings.secret is not None else settings.public_key
    assert key is not None  # the settings hold exactly one of the two
    aud, iss = settings.audience, settings.issuer
    try:
        claims = jwt.decode(
            token, key, algorithms=[alg], options=_OPTIONS, audience=aud, issuer=iss
        )
    except jwt.PyJWTError as exc:
        raise _refusal(exc, settings) from None
    _check_claims(claims, settings, time.time() if now is None else now)
    return claims


def _refusal(exc: jwt.PyJWTError, settings: RemoteAuthSettings) -> RemoteAuthError:
    if isinstance(exc, jwt.InvalidSignatureError):
        kind = "shared secret" if settings.secret is not None else "RSA key pair"
        return RemoteAuthError("bad_signature", f"bad signature; sign with the hub's {kind}")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        need = ", ".join(REQUIRED_CLAIMS)
        return RemoteAuthError("missing_claim", f"no {exc.claim!r} claim; tokens need {need}")
    if isinstance(exc, jwt.InvalidAudienceError):
        return RemoteAuthError("bad_audience", f"the audience must be {settings.audience!r}")
    if isinstance(exc, jwt.InvalidIssuerError):
        return RemoteAuthError("bad_issuer", f"the issuer must be {settings.issuer!r}")
    return RemoteAuthError("malformed_token", "the bearer token is not a valid JWT")


def _check_claims(claims: dict[str, Any], settings: RemoteAuthSettings, now: float) -> None:
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name, 0)
        finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
        if isinstance(value, bool) or not finite:
            raise RemoteAuthError("malformed_token", f"{name!r} must be seconds since 1970")
    leeway, longest = settings.leeway_seconds, settings.max_lifetime_seconds
    if claims["exp"] <= now - leeway:
        raise RemoteAuthError("token_expired", "the token has expired; get a fresh one")
    if max(claims["iat"], claims.get("nbf", now)) > now + leeway:
        raise RemoteAuthError("token_not_yet_valid", "the token is not valid yet; check clocks")
    if claims["exp"] - claims["iat"] > longest:
        raise RemoteAuthError("token_too_long_lived", f"exp - iat must be <= {longest} seconds")
    if "sub" in claims and not isinstance(claims["sub"], str):
        raise RemoteAuthError("bad_subject", "the 'sub' claim must be a string")
