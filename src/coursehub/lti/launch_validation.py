"""Checking an LTI 1.3 launch's id_token: who signed it, for whom, when, and for which
login. Every refusal is a LaunchRefused whose `code` goes to the log and whose message
is shown on the page, in words an LMS admin can act on.

The checks, in order: the token's header (RS256 and a key id: never `none`, never an
HMAC algorithm a public key could be abused for), the issuer is a registered platform,
our client id is the audience (and `azp` when there are several audiences), the
signature with the platform's published key of that id, `exp`/`iat` with a small
leeway, the nonce bound to this login's state, the deployment, and the LTI claims.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import jwt

from coursehub.lti.key_sets import KeySetError, KeySets
from coursehub.lti.platforms import Platform

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DEEP_LINKING = "LtiDeepLinkingRequest"
RESOURCE_LINK = "LtiResourceLinkRequest"
MESSAGE_TYPES = (RESOURCE_LINK, DEEP_LINKING)
LEEWAY_SECONDS = 60
MAX_TOKEN_BYTES = 64 * 1024


class LaunchRefused(Exception):
    """A launch coursehub will not accept; `status` for the page, `code` for logs."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class ValidLaunch:
    platform: Platform
    claims: dict[str, Any]

    @property
    def message_type(self) -> str:
        return str(self.claims[LTI + "message_type"])

    @property
    def deployment_id(self) -> str:
        return str(self.claims[LTI + "deployment_id"])

    def claim(self, name: str) -> Any:
        return self.claims.get(LTI + name)


def _unverified(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not id_token or len(id_token) > MAX_TOKEN_BYTES:
        raise LaunchRefused("malformed", "the launch carried no usable id_token")
    try:
        header = jwt.get_unverified_header(id_token)
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise LaunchRefused("malformed", "the launch's id_token is not a valid JWT") from exc
    return header, claims


def _platform_for(claims: dict[str, Any], candidates: list[Platform]) -> Platform:
    """The registration the token is for, from its audience (and `azp`)."""
    issuer = claims.get("iss")
    if not candidates:
        raise LaunchRefused(
            "unregistered_issuer",
            f"the launch came from {str(issuer)[:200]!r}, which is not a registered LMS "
            "platform; an admin can register it with `coursehub lti add-platform`",
            403,
        )
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    audiences = [a for a in audiences if isinstance(a, str)]
    ours = [p for p in candidates if p.client_id in audiences]
    if not ours:
        raise LaunchRefused(
            "wrong_audience",
            "the launch was meant for another tool: its audience is not coursehub's client "
            "id on this platform (check the client id registered with coursehub)",
            403,
        )
    if len(audiences) > 1:
        azp = claims.get("azp")
        if not isinstance(azp, str) or not azp:
            raise LaunchRefused(
                "missing_azp",
                "the launch names several audiences but no authorized party (azp), so it "
                "cannot be told apart from a token issued to another tool",
                403,
            )
        ours = [p for p in ours if p.client_id == azp]
        if not ours:
            raise LaunchRefused(
                "wrong_azp", "the launch's authorized party (azp) is not coursehub", 403
            )
    return ours[0]


def validate_id_token(
    id_token: str,
    *,
    candidates: list[Platform],
    key_sets: KeySets,
    expected_nonce: str,
    expected_platform_id: int | None = None,
    now: float | None = None,
) -> ValidLaunch:
    """The launch's verified claims, or LaunchRefused.

    `candidates` are the registrations of the token's issuer (PlatformStore.for_issuer);
    `expected_nonce` and `expected_platform_id` come from the login's state.
    """
    header, unverified = _unverified(id_token)
    if header.get("alg") != "RS256":
        raise LaunchRefused(
            "bad_algorithm",
            f"the launch's id_token uses {str(header.get('alg'))[:20]!r}; LTI 1.3 requires RS256",
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise LaunchRefused("missing_kid", "the launch's id_token names no signing key (kid)")
    platform = _platform_for(unverified, candidates)
    if expected_platform_id is not None and platform.id != expected_platform_id:
        raise LaunchRefused(
            "platform_mismatch", "the launch came from another platform than its login", 403
        )
    try:
        key = key_sets.signing_key(platform, kid)
    except KeySetError as exc:
        status = 403 if exc.code == "unknown_kid" else 502
        raise LaunchRefused(exc.code, str(exc), status) from exc
    when = time.time() if now is None else now
    try:
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=["RS256"],
            audience=platform.client_id,
            issuer=platform.issuer,
            leeway=LEEWAY_SECONDS,
            options={
                "require": ["exp", "iat", "iss", "aud", "nonce"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise LaunchRefused(
            "bad_signature",
            f"the launch's signature does not match {platform.name}'s published key",
            403,
        ) from exc
    except jwt.PyJWTError as exc:
        raise LaunchRefused(
            "invalid_token", f"the launch's id_token was refused: {exc}", 403
        ) from exc
    _check_times(claims, when)
    if claims.get("nonce") != expected_nonce:
        raise LaunchRefused(
            "nonce_mismatch",
            "the launch's nonce does not belong to this login (a replayed or mixed-up launch)",
            403,
        )
    _check_lti_claims(claims, platform)
    return ValidLaunch(platform, claims)


def _check_times(claims: dict[str, Any], now: float) -> None:
    # By hand against `now`, so tests (and the result) do not depend on PyJWT's clock.
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise LaunchRefused("invalid_token", "the launch's exp and iat must be numbers", 403)
    if exp + LEEWAY_SECONDS < now:
        raise LaunchRefused(
            "expired",
            "the launch has expired (open the activity again; if this keeps happening, "
            "the LMS server's clock or coursehub's is wrong)",
            403,
        )
    if iat - LEEWAY_SECONDS > now:
        raise LaunchRefused(
            "issued_in_future",
            "the launch was issued in the future: the LMS server's clock or coursehub's is wrong",
            403,
        )


def _check_lti_claims(claims: dict[str, Any], platform: Platform) -> None:
    if claims.get(LTI + "version") != "1.3.0":
        raise LaunchRefused("bad_version", "the launch is not an LTI 1.3.0 message")
    message_type = claims.get(LTI + "message_type")
    if message_type not in MESSAGE_TYPES:
        raise LaunchRefused(
            "unsupported_message",
            f"coursehub does not handle {str(message_type)[:60]!r} launches",
        )
    deployment = claims.get(LTI + "deployment_id")
    if not isinstance(deployment, str) or not deployment:
        raise LaunchRefused("missing_deployment", "the launch names no deployment id")
    if not platform.accepts_deployment(deployment):
        raise LaunchRefused("unknown_deployment", platform.deployment_refusal(deployment), 403)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise LaunchRefused(
            "anonymous", "the launch does not say who the user is (no `sub`); sign-in needs it"
        )
    if message_type == RESOURCE_LINK:
        link = claims.get(LTI + "resource_link")
        if not isinstance(link, dict) or not link.get("id"):
            raise LaunchRefused("missing_resource_link", "the launch names no resource link")
    context = claims.get(LTI + "context")
    if not isinstance(context, dict) or not isinstance(context.get("id"), str | int):
        raise LaunchRefused(
            "missing_context",
            "the launch names no LMS course (context); add coursehub as an activity "
            "inside a course",
        )
    if len(json.dumps(claims)) > MAX_TOKEN_BYTES:
        raise LaunchRefused("malformed", "the launch's claims are too large")
