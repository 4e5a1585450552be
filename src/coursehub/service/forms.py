"""POST forms on the service's own pages: an XSRF field bound to the sign-in cookie,
and the `Origin` header.

Cookies are otherwise only believed on read-only navigations (see auth.py), so every
state-changing request that a cookie signs in comes through here. A form post is
believed when it is a same-origin navigation that carries the `_xsrf` value only our
pages know (an HMAC of the visitor's own signed token cookie, which scripts cannot
read: HttpOnly) and, when the browser names its origin, comes from this site's own.
With per-user subdomains students' servers are other origins but the same site, so
SameSite cookies reach us from them: the XSRF field and the origin keep them out.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request

from coursehub.service.auth import identify, resolver_of
from coursehub.service.body_limits import lower_body_limit
from coursehub.service.context import context_of
from coursehub.service.cookies import browser_uses_https
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser

XSRF_FIELD = "_xsrf"
MAX_FORM_BYTES = 64 * 1024  # our forms carry a token and a checkbox


def xsrf_token(request: Request) -> str:
    """The value forms on this visitor's pages carry ('' when not signed in by cookie)."""
    raw = request.cookies.get(resolver_of(request).token_cookie_name)
    if not raw:
        return ""
    key = context_of(request.app).cookie_key
    return hmac.new(key, f"xsrf|{raw}".encode(), hashlib.sha256).hexdigest()[:40]


def _same_origin_navigation(request: Request) -> bool:
    mode = request.headers.get("sec-fetch-mode", "unspecified")
    site = request.headers.get("sec-fetch-site", "unspecified")
    return mode in ("navigate", "unspecified") and site in ("same-origin", "unspecified")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}"


def site_origins(request: Request) -> set[str]:
    """The origins our own pages have: the one this request was sent to (the proxy
    keeps the browser's Host) and the site's public URL."""
    settings = context_of(request.app).settings
    scheme = "https" if browser_uses_https(request, settings.public_url) else "http"
    origins = {_origin(f"{scheme}://{request.headers.get('host', '')}")}
    origins |= {_origin(url) for url in (settings.public_url, settings.subdomain_host) if url}
    return origins


def origin_allowed(request: Request) -> bool:
    """False when the browser says the request comes from another origin (a student's
    subdomain, another site, or `null` from a sandboxed frame). A request without the
    header (an old browser) is left to the XSRF field."""
    sent = request.headers.get("origin")
    if sent is None:
        return True
    try:
        return sent != "null" and _origin(sent) in site_origins(request)
    except ValueError:  # a malformed port
        return False


async def form_user(request: Request) -> HubUser:
    """Dependency for form posts: the signed-in caller, after the XSRF check."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise ApiError(413, "This form is far larger than any of our forms.")
    await signed_in_before_body(request)
    lower_body_limit(request.scope, MAX_FORM_BYTES)  # chunked forms too
    return await form_sender(request, await request.form())


async def signed_in_before_body(request: Request) -> HubUser:
    """The caller of a form post, known before its body is read: only signed-in,
    allowed visitors on a same-site navigation get their form parsed (form_sender then
    checks its XSRF field)."""
    if not (xsrf_token(request) and _same_origin_navigation(request)):
        raise ApiError(
            403, "This form has expired or did not come from this site. Reload the page and retry."
        )
    user = await identify(request, form_checked=True)
    if user is None:
        raise ApiError(401, "Your sign-in has expired. Reload the page to sign in again.")
    if not resolver_of(request).has_access(user):
        raise ApiError(403, "Your hub account is not allowed to use this site.")
    return user


async def form_sender(request: Request, form: Any) -> HubUser:
    """The signed-in sender of an already parsed form, after the XSRF and same-site
    navigation checks (for forms that parse themselves, e.g. file uploads)."""
    if not origin_allowed(request):
        raise ApiError(
            403,
            "This form was sent from another site's page, so it was not acted on. "
            "Open the page on this site and send it from there.",
        )
    expected = xsrf_token(request)
    sent = str(form.get(XSRF_FIELD) or "")
    if not (
        expected
        and _same_origin_navigation(request)
        and hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise ApiError(
            403, "This form has expired or did not come from this site. Reload the page and retry."
        )
    user = await identify(request, form_checked=True)
    if user is None:
        raise ApiError(401, "Your sign-in has expired. Reload the page to sign in again.")
    if not resolver_of(request).has_access(user):
        raise ApiError(403, "Your hub account is not allowed to use this site.")
    return user
