"""Sign-in: identify callers by hub token (header or cookie) and run the hub's OAuth flow.

Browsers get the hub's OAuth token in a signed cookie; API clients send
`Authorization: Bearer <hub token>` (or `token <hub token>`). The hub decides who a token
belongs to; this module only decides which credential to believe for a request.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import RedirectResponse, Response

from coursehub.service import cookies
from coursehub.service.context import context_of
from coursehub.service.errors import ApiError, error_response
from coursehub.service.identity import HubUnavailable, HubUser, IdentityResolver, OAuthFailed

log = logging.getLogger("coursehub.service")

AUTH_HEADER = re.compile(r"^\s*(?:token|bearer)\s+([^\s]+)\s*$", re.IGNORECASE)
SESSION_COOKIE = "jupyterhub-session-id"
READ_ONLY = {"GET", "HEAD", "OPTIONS"}


class LoginRequired(Exception):
    """A browser asked for a page without being signed in: send it through OAuth."""


def resolver_of(request: Request) -> IdentityResolver:
    return context_of(request.app).resolver


def header_token(request: Request) -> str | None:
    match = AUTH_HEADER.match(request.headers.get("authorization", ""))
    return match.group(1) if match else None


def cookie_auth_allowed(request: Request) -> bool:
    """Accept the cookie only where another page on this origin cannot abuse it.

    Student servers share the hub's origin, so their scripts can fetch() our URLs with
    the visitor's cookies. Like JupyterHub, accept cookies on read-only navigations
    (and same-origin no-cors loads such as images), never on scripted or unsafe requests.
    """
    if request.method not in READ_ONLY:
        return False
    mode = request.headers.get("sec-fetch-mode", "unspecified")
    site = request.headers.get("sec-fetch-site", "unspecified")
    return mode in ("navigate", "unspecified") or (mode == "no-cors" and site == "same-origin")


async def identify(request: Request, *, form_checked: bool = False) -> HubUser | None:
    """The caller, or None. A header token, when sent, is the only credential considered.

    `form_checked`: the caller (forms.form_user) has verified this POST's XSRF field,
    so the cookie may be believed for it.
    """
    if hasattr(request.state, "hub_user"):
        return request.state.hub_user
    resolver = resolver_of(request)
    session_id = request.cookies.get(SESSION_COOKIE, "")
    from_cookie = False
    token = header_token(request)
    if token is None and (form_checked or cookie_auth_allowed(request)):
        raw = request.cookies.get(resolver.token_cookie_name)
        token = cookies.unsign(
            context_of(request.app).cookie_key,
            resolver.token_cookie_name,
            raw,
            cookies.TOKEN_MAX_AGE,
        )
        from_cookie = raw is not None
    user = await resolver.user_for_token(token, session_id=session_id) if token else None
    # A cookie we looked at and could not use (forged, expired, logged out) gets cleared.
    request.state.stale_cookie = from_cookie and user is None
    request.state.hub_user = user
    request.state.user_name = user.name if user else None
    return user


async def api_user(request: Request) -> HubUser:
    """Dependency for API routes: the caller, or a 401/403 error in the one JSON shape."""
    user = await identify(request)
    if user is None:
        raise ApiError(
            401,
            "Sign in first, or send a hub token in the Authorization header.",
            headers={"WWW-Authenticate": 'Bearer realm="coursehub"'},
        )
    if not resolver_of(request).has_access(user):
        raise ApiError(403, "This token does not grant access to the coursehub service.")
    return user


async def page_user(request: Request) -> HubUser:
    """Dependency for pages: the caller; anonymous browsers are sent to sign in."""
    user = await identify(request)
    if user is None:
        # Only real navigations start OAuth; scripted requests just get 401.
        if request.method in ("GET", "HEAD") and cookie_auth_allowed(request):
            raise LoginRequired()
        raise ApiError(401, "Sign in first.")
    if not resolver_of(request).has_access(user):
        raise ApiError(403, "Your hub account is not allowed to use this site.")
    return user


def _safe_next(next_url: str, prefix: str) -> str:
    """Only ever redirect back into this service (no open redirects)."""
    if next_url.startswith(prefix) and "\\" not in next_url and "//" not in next_url:
        return next_url
    return prefix


async def _start_login(request: Request, exc: Exception) -> Response:
    settings = context_of(request.app).settings
    resolver = resolver_of(request)
    next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    base = resolver.state_cookie_name
    # A second tab signing in at once gets its own state cookie instead of clobbering.
    cookie_name = base
    if base in request.cookies:
        cookie_name = f"{base}-{secrets.token_hex(4)}"
    pending, url = resolver.begin_login(_safe_next(next_url, settings.service_prefix), cookie_name)
    response = RedirectResponse(url, status_code=302)
    cookies.set_signed_cookie(
        response,
        request,
        key=context_of(request.app).cookie_key,
        name=cookie_name,
        value=pending.state,
        path=settings.service_prefix,
        public_url=settings.public_url,
        max_age=cookies.STATE_MAX_AGE,
    )
    if getattr(request.state, "stale_cookie", False):
        # The stored token no longer works (expired, or the user logged out of the hub).
        cookies.clear_cookie(response, request, resolver.token_cookie_name, settings.service_prefix)
    return response


router = APIRouter()


@router.get("/oauth_callback", include_in_schema=False)
async def oauth_callback(request: Request) -> Response:
    """Finish the hub's OAuth flow: check state, swap the code for a token, set the cookie."""
    settings = context_of(request.app).settings
    resolver = resolver_of(request)
    key = context_of(request.app).cookie_key
    params = request.query_params
    if params.get("error"):
        reason = params.get("error_description") or params["error"]
        return error_response(request, 400, f"Sign-in did not complete: {reason[:200]}")
    code, state = params.get("code"), params.get("state")
    if not code or not state:
        return error_response(request, 400, "Sign-in did not complete: the hub sent no code.")
    pending = resolver.pending_login(state)
    cookie_state = None
    if pending is not None:
        raw = request.cookies.get(pending.cookie_name)
        cookie_state = cookies.unsign(key, pending.cookie_name, raw, cookies.STATE_MAX_AGE)
    if pending is None or cookie_state is None or not hmac.compare_digest(cookie_state, state):
        # Stale or foreign state. If this browser is signed in already, just go home.
        if await identify(request) is not None:
            return RedirectResponse(settings.service_prefix, status_code=302)
        return error_response(
            request, 400, "This sign-in has expired or did not start here. Please sign in again."
        )
    resolver.end_login(state)
    try:
        token = await resolver.token_for_code(code, pending.code_verifier)
    except OAuthFailed as exc:
        log.warning("OAuth code exchange refused: %s", exc)
        return error_response(request, 400, "The hub refused this sign-in. Please try again.")
    user = await resolver.user_for_token(token, request.cookies.get(SESSION_COOKIE, ""))
    if user is None:
        raise HubUnavailable("the hub issued a token it does not recognise")
    log.info("signed in %s (%s)", user.name, user.role)
    request.state.user_name = user.name
    response = RedirectResponse(_safe_next(pending.next_url, settings.service_prefix), 302)
    for name in request.cookies:
        if name.startswith(resolver.state_cookie_name):
            cookies.clear_cookie(response, request, name, settings.service_prefix)
    cookies.set_signed_cookie(
        response,
        request,
        key=key,
        name=resolver.token_cookie_name,
        value=token,
        path=settings.service_prefix,
        public_url=settings.public_url,
    )
    return response


def install_auth(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _start_login)
