"""The plugin's two secrets, checked here and never passed on.

- Its "JupyterHub JWT Secret": HS256 tokens `{"name": <moodle username>}` the plugin
  puts in sign-in links and gradeservice calls (sent bare in `Authorization`, without a
  scheme). They carry no expiry; one that does is checked.
- Its "JupyterHub API Token": sent as `Authorization: token <value>` on its server-side
  calls. Here it is a secret coursehub.yaml names (grading.moodle_compat.api_token_file),
  compared in constant time; it opens only these compat routes.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from coursehub.accounts.roster import validate_username
from coursehub.config.models import MoodleCompatConfig
from coursehub.config.secrets import read_secret
from coursehub.core.errors import SetupError

MAX_TOKEN_CHARS = 4096
ALGORITHM = "HS256"


class CompatConfigError(SetupError):
    """grading.moodle_compat's secrets cannot be used (the message says how to fix it)."""


class CompatRefused(Exception):
    """A refused credential: `.code` for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class CompatSecrets:
    jwt_secret: bytes = field(repr=False)
    api_token: bytes = field(repr=False)


def load_secrets(section: MoodleCompatConfig) -> CompatSecrets:
    """Both secrets, each private and at least 32 bytes, or CompatConfigError."""

    def read(path: Path | None, key: str) -> bytes:
        if path is None:
            raise CompatConfigError(f"grading.moodle_compat.{key} is not set")
        try:
            return read_secret(path).encode()
        except OSError as exc:
            raise CompatConfigError(f"grading.moodle_compat.{key}: cannot read {path}: "
                                    f"{exc.strerror}") from None  # fmt: skip
        except SetupError as exc:
            raise CompatConfigError(f"grading.moodle_compat.{key}: {exc}") from None

    jwt_secret = read(section.jwt_secret_file, "jwt_secret_file")
    api_token = read(section.api_token_file, "api_token_file")
    if hmac.compare_digest(jwt_secret, api_token):
        raise CompatConfigError(
            "grading.moodle_compat: the JWT secret and the API token must differ"
        )
    return CompatSecrets(jwt_secret, api_token)


def check_api_token(header: str | None, secrets: CompatSecrets) -> None:
    """`Authorization: token <value>` with the configured value, else CompatRefused."""
    scheme, _, value = (header or "").strip().partition(" ")
    if not value or scheme.lower() != "token":
        raise CompatRefused("missing_token", "send 'Authorization: token <API token>'")
    if not hmac.compare_digest(value.strip().encode(), secrets.api_token):
        raise CompatRefused(
            "bad_token",
            "the API token is wrong: set the plugin's 'JupyterHub API Token' to the "
            "content of grading.moodle_compat.api_token_file",
        )


def user_of_token(token: str | None, secrets: CompatSecrets, now: float | None = None) -> str:
    """The lower-cased username in a plugin token (bare or after 'Bearer')."""
    parts = (token or "").split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        parts = parts[1:]
    if len(parts) != 1:
        raise CompatRefused("missing_token", "send the plugin's JWT in 'Authorization'")
    raw = parts[0]
    if len(raw) > MAX_TOKEN_CHARS or not raw.isascii():
        raise CompatRefused("malformed_token", "the token is not a JWT")
    try:
        alg = jwt.get_unverified_header(raw).get("alg")
    except jwt.PyJWTError:
        raise CompatRefused("malformed_token", "the token is not a JWT") from None
    if alg != ALGORITHM:
        raise CompatRefused("algorithm_not_allowed", f"only {ALGORITHM} is accepted")
    options: Any = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
    try:
        claims = jwt.decode(raw, secrets.jwt_secret, algorithms=[ALGORITHM], options=options)
    except jwt.InvalidSignatureError:
        raise CompatRefused(
            "bad_signature",
            "bad signature: the plugin's 'JupyterHub JWT Secret' must be the content of "
            "grading.moodle_compat.jwt_secret_file",
        ) from None
    except jwt.PyJWTError:
        raise CompatRefused("malformed_token", "the token is not a valid JWT") from None
    exp = claims.get("exp")
    if exp is not None:
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise CompatRefused("malformed_token", "'exp' must be seconds since 1970")
        if exp <= (time.time() if now is None else now):
            raise CompatRefused("token_expired", "the token has expired")
    name = claims.get("name")
    if not isinstance(name, str) or not name:
        raise CompatRefused("no_username", "the token has no 'name' claim")
    name = name.lower()  # the plugin lower-cases its usernames too
    if (problem := validate_username(name)) is not None:
        raise CompatRefused("bad_username", f"the token names an unusable account: {problem}")
    return name
