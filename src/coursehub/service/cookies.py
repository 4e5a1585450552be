"""Signed, HttpOnly cookies scoped to the service prefix.

Values are HMAC-signed with a key derived from the service's API token, so a cookie the
service did not set is rejected before any hub lookup, and a restart keeps sessions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Literal
from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import Response

TOKEN_MAX_AGE = 14 * 24 * 3600
STATE_MAX_AGE = 600


def signing_key(api_token: str) -> bytes:
    return hmac.new(api_token.encode(), b"coursehub-service-cookie-v1", hashlib.sha256).digest()


def _mac(key: bytes, name: str, payload: str) -> str:
    return hmac.new(key, f"{name}|{payload}".encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, name: str, value: str, now: float | None = None) -> str:
    """`value` bound to cookie `name` and the current time."""
    encoded = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    payload = f"{encoded}.{int(time.time() if now is None else now)}"
    return f"{payload}.{_mac(key, name, payload)}"


def unsign(key: bytes, name: str, signed: str | None, max_age: int) -> str | None:
    """The value inside `signed` if its signature is good and it is not too old."""
    if not signed or signed.count(".") != 2:
        return None
    payload, _, mac = signed.rpartition(".")
    if not hmac.compare_digest(mac, _mac(key, name, payload)):
        return None
    encoded, _, issued = payload.partition(".")
    try:
        age = time.time() - int(issued)
        value = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return value if -60 <= age <= max_age else None


def browser_uses_https(request: Request, public_url: str = "") -> bool:
    """Whether the browser reached us over https, as JupyterHub decides it.

    Proxy headers are trusted here: the answer only decides whether to add `Secure`.
    """
    if public_url:
        return urlparse(public_url).scheme == "https"
    forwarded = request.headers.get("forwarded", "")
    for field in forwarded.split(",", 1)[0].split(";"):
        key, _, value = field.partition("=")
        if key.strip().lower() == "proto" and value.strip().lower() in ("http", "https"):
            return value.strip().lower() == "https"
    proto = request.headers.get("x-scheme") or request.headers.get("x-forwarded-proto")
    if proto and proto.split(",")[0].strip().lower() in ("http", "https"):
        return proto.split(",")[0].strip().lower() == "https"
    return request.url.scheme == "https"


def set_signed_cookie(
    response: Response,
    request: Request,
    *,
    key: bytes,
    name: str,
    value: str,
    path: str,
    public_url: str = "",
    max_age: int | None = None,
) -> None:
    secure = browser_uses_https(request, public_url)
    response.set_cookie(
        name,
        sign(key, name, value),
        max_age=max_age,
        path=path,
        httponly=True,
        samesite=same_site(request, secure),
        secure=secure,
    )


def same_site(request: Request, secure: bool) -> Literal["lax", "none"]:
    """Lax, except on https sites that let an LMS frame their pages: inside a
    cross-site iframe browsers send only SameSite=None cookies (which must be Secure)."""
    context = getattr(request.app.state, "context", None)  # absent in a bare test app
    embedded = bool(context and context.settings.frame_ancestors)
    return "none" if secure and embedded else "lax"


def clear_cookie(response: Response, request: Request, name: str, path: str) -> None:
    secure = request.url.scheme == "https"
    response.delete_cookie(
        name, path=path, httponly=True, samesite=same_site(request, secure), secure=secure
    )
