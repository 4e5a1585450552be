"""Access tokens for the LMS's services (grades, rosters): OAuth 2 client credentials
with a JWT client assertion signed by the tool's key (LTI 1.3 security framework),
cached per platform and scopes until shortly before they expire."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from coursehub.core.errors import CoursehubError
from coursehub.core.numbers import whole_number
from coursehub.lti.keys import ToolKey
from coursehub.lti.platforms import Platform

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_SECONDS = 300
# a token is renewed this long before the platform says it expires
EXPIRY_MARGIN = 60.0
DEFAULT_TOKEN_SECONDS = 3600.0
HTTP_TIMEOUT = 30.0
MAX_MESSAGE = 200


class LmsCallError(CoursehubError):
    """A call to an LMS service failed. `status` is None when the LMS was not reached;
    `temporary` says whether trying again later may work."""

    def __init__(
        self, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def temporary(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class ServiceTokenError(LmsCallError):
    """The platform gave no access token; the message holds its error and description."""


def platform_message(response: httpx.Response) -> str:
    """What the platform said about a failed call, short and on one line."""
    text = ""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # {"error": {"code", "message"}}
            error = error.get("message") or error.get("code")
        parts = [body.get("error_description"), error, body.get("message"), body.get("reason")]
        errors = body.get("errors")  # Canvas: {"errors": [{"message"}]}
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            parts.append(errors[0].get("message"))
        found = [p for p in parts if isinstance(p, str) and p.strip()]
        text = ": ".join(dict.fromkeys(found))
    if not text:
        text = response.text if "html" not in response.headers.get("content-type", "") else ""
    text = re.sub(r"\s+", " ", text).strip()[:MAX_MESSAGE]
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the platform asks us to wait (Retry-After: seconds or a date)."""
    raw = response.headers.get("retry-after", "").strip()
    if not raw:
        return None
    if (seconds := whole_number(raw)) is not None:
        return float(seconds)
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs share scheme, host and port (a bearer token goes to neither
    a next-page link nor a line item on another site)."""
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def client_assertion(key: ToolKey, platform: Platform, now: float | None = None) -> str:
    """The signed JWT that proves this request comes from the tool."""
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": platform.client_id,
        "sub": platform.client_id,
        "aud": platform.auth_token_url,
        "iat": issued,
        "exp": issued + ASSERTION_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid})


@dataclass(frozen=True)
class _Cached:
    token: str
    renew_at: float


class ServiceTokens:
    """Access tokens of one tool key, kept per (platform, scopes). Thread-safe: the
    grade sender and the roster sync may ask at once."""

    def __init__(
        self,
        key: ToolKey,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.http = http or httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False)
        self._owns_http = http is None
        self._clock = clock
        self._cache: dict[tuple[int, str, str, str], _Cached] = {}
        self._lock = threading.Lock()

    def _slot(self, platform: Platform, scopes: Iterable[str]) -> tuple[int, str, str, str]:
        wanted = " ".join(sorted(set(scopes)))
        return (platform.id, platform.auth_token_url, platform.client_id, wanted)

    def token(self, platform: Platform, scopes: Iterable[str]) -> str:
        """A bearer token for `scopes` on `platform`; ServiceTokenError if refused."""
        slot = self._slot(platform, scopes)
        with self._lock:
            cached = self._cache.get(slot)
            if cached is not None and self._clock() < cached.renew_at:
                return cached.token
            fresh = self._request(platform, slot[3])
            self._cache[slot] = fresh
            return fresh.token

    def forget(self, platform: Platform, scopes: Iterable[str]) -> None:
        """Drop a token the platform no longer accepts (it answered 401)."""
        with self._lock:
            self._cache.pop(self._slot(platform, scopes), None)

    def call(
        self,
        platform: Platform,
        scopes: Iterable[str],
        method: str,
        url: str,
        *,
        accept: str,
        what: str,
        **kwargs: Any,
    ) -> httpx.Response:
        """One authorised call to a service of `platform`: the 2xx response, or
        LmsCallError (a 401 is tried once more with a new token)."""
        scopes = list(scopes)
        extra = kwargs.pop("headers", {})
        for again in (True, False):
            token = self.token(platform, scopes)
            headers = {"Authorization": f"Bearer {token}", "Accept": accept, **extra}
            try:
                response = self.http.request(method, url, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise LmsCallError(
                    f"{what}: {platform.name} did not answer ({type(exc).__name__})"
                ) from None
            if response.status_code == 401 and again:
                self.forget(platform, scopes)  # revoked or expired early: one new token
                continue
            if response.status_code >= 300:
                raise LmsCallError(
                    f"{what}: {platform_message(response)}",
                    response.status_code,
                    retry_after(response),
                )
            return response
        raise AssertionError("unreachable")

    def _request(self, platform: Platform, scope: str) -> _Cached:
        started = self._clock()
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(self.key, platform, started),
            "scope": scope,
        }
        where = f"the token endpoint of {platform.name}"
        try:
            response = self.http.post(
                platform.auth_token_url, data=form, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            # the exception text names the URL, never the form we sent
            raise ServiceTokenError(f"{where} did not answer: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ServiceTokenError(
                f"{where} refused a token: {platform_message(response)}",
                response.status_code,
                retry_after(response),
            )
        try:
            body = response.json()
        except json.JSONDecodeError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ServiceTokenError(f"{where} answered without an access_token", 502)
        seconds = body.get("expires_in")
        if not isinstance(seconds, int | float) or seconds <= 0:
            seconds = DEFAULT_TOKEN_SECONDS
        margin = min(EXPIRY_MARGIN, seconds / 10)
        return _Cached(token, started + seconds - margin)

    def close(self) -> None:
        if self._owns_http:
            self.http.close()


def next_link(response: httpx.Response, first_url: str) -> str | None:
    """The Link rel="next" URL, refused when it leaves the service's site."""
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    url = str(response.url.join(link))
    if not same_origin(url, first_url):
        raise LmsCallError(f"the LMS sent a next-page link to another site ({url[:100]})", 502)
    return url
