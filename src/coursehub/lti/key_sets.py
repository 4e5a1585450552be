"""Platforms' public keys (JWKS), fetched over HTTPS and cached.

An unknown `kid` triggers one refetch (the platform may have rotated its keys), but at
most one per platform every REFETCH_SECONDS: tokens with made-up key ids must not turn
coursehub into a tool for hammering the LMS.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx
import jwt

from coursehub.lti.platforms import Platform

CACHE_SECONDS = 300
REFETCH_SECONDS = 10
MAX_JWKS_BYTES = 256 * 1024
TIMEOUT = httpx.Timeout(5.0)


class KeySetError(Exception):
    """The platform's keys could not be fetched or read; `code` names the cause."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass
class _Cached:
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = 0.0


class KeySets:
    """A process-wide cache of platform key sets, keyed by the key set URL."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def signing_key(self, platform: Platform, kid: str) -> jwt.PyJWK:
        url = platform.key_set_url
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(url)
        fresh = cached is not None and now - cached.fetched_at < CACHE_SECONDS
        if cached is not None and kid in cached.keys and fresh:
            return cached.keys[kid]
        may_refetch = cached is None or now - cached.fetched_at >= REFETCH_SECONDS
        if may_refetch:
            cached = _Cached(self._fetch(url), time.monotonic())
            with self._lock:
                self._cache[url] = cached
        if cached is not None and kid in cached.keys:
            return cached.keys[kid]
        raise KeySetError(
            "unknown_kid",
            f"the launch was signed with a key ({kid[:40]!r}) that {platform.name} does not "
            "publish at its key set URL",
        )

    def forget(self, url: str) -> None:
        with self._lock:
            self._cache.pop(url, None)

    def _fetch(self, url: str) -> dict[str, jwt.PyJWK]:
        client = self._client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        try:
            response = client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise KeySetError(
                "keys_unreachable", f"the platform's key set URL could not be reached ({exc})"
            ) from exc
        finally:
            if self._client is None:
                client.close()
        if response.status_code != 200:
            raise KeySetError(
                "keys_unreachable",
                f"the platform's key set URL answered HTTP {response.status_code}",
            )
        if len(response.content) > MAX_JWKS_BYTES:
            raise KeySetError("keys_invalid", "the platform's key set is implausibly large")
        try:
            data = response.json()
            found: dict[str, jwt.PyJWK] = {}
            for entry in data.get("keys", []):
                if not isinstance(entry, dict) or entry.get("kty") != "RSA" or "kid" not in entry:
                    continue
                if entry.get("use", "sig") != "sig":
                    continue
                found[str(entry["kid"])] = jwt.PyJWK.from_dict(entry, algorithm="RS256")
        except (ValueError, AttributeError, jwt.PyJWKError) as exc:
            raise KeySetError(
                "keys_invalid", f"the platform's key set is not valid JSON Web Keys ({exc})"
            ) from exc
        return found
