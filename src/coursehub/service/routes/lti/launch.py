"""LTI 1.3 endpoints of the service: the tool's public keys, the OIDC login initiation
and the launch.

A launch is checked completely here (state cookie, single-use state and nonce, the
id_token against the platform's keys); then the LMS user gets their account, their LMS
course its coursehub course, and the browser a one-time ticket with which the hub signs
them in and sends them on to the notebook, assignment or course page.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from coursehub.accounts.signin_tickets import (
    BINDING_COOKIE,
    TICKET_SECONDS,
    SignInTickets,
    new_binding,
)
from coursehub.config.layout import DataLayout
from coursehub.config.service_sections import LtiSection
from coursehub.core.errors import CoursehubError
from coursehub.lti.course_link import (
    create_course_for_context,
    enrol_from_launch,
    launch_role,
    record_context,
    target_path,
)
from coursehub.lti.grade_sync import retry_new_identities
from coursehub.lti.identities import IdentityError, IdentityStore, LmsPerson
from coursehub.lti.keys import ensure_tool_key, jwks
from coursehub.lti.launch_validation import (
    DEEP_LINKING,
    LaunchRefused,
    ValidLaunch,
    validate_id_token,
)
from coursehub.lti.oidc_states import STATE_SECONDS, LoginState, StateStore
from coursehub.lti.platforms import PlatformStore
from coursehub.service.context import context_of
from coursehub.service.cookies import browser_uses_https, clear_cookie
from coursehub.service.errors import ApiError, error_response
from coursehub.service.templating import render

log = logging.getLogger("coursehub.lti")
router = APIRouter()

TOOL_KEY_FILE = "lti_tool_key.pem"
CHECK_COOKIE = "coursehub-lti-check"
MAX_PARAM_CHARS = 2000
MAX_LAUNCH_BYTES = 256 * 1024  # an id_token is a few kilobytes; the form nothing more
LOGIN_PARAMS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "client_id",
    "lti_deployment_id",
)


def _replayed() -> LaunchRefused:
    return LaunchRefused(
        "replayed",
        "this launch was already used (its nonce and state are single-use); "
        "open the activity again from the LMS",
        403,
    )


def tool_key_path(data_dir: str | None) -> Path:
    if not data_dir:
        raise ApiError(404, "LTI needs the site's data directory; it is not configured.")
    return DataLayout(Path(data_dir)).secret_file(TOOL_KEY_FILE)


@router.get("/lti/jwks.json")
async def tool_jwks(request: Request) -> JSONResponse:
    path = tool_key_path(context_of(request.app).settings.data_dir)
    key = await asyncio.to_thread(ensure_tool_key, path)
    return JSONResponse(jwks(key), headers={"Cache-Control": "public, max-age=300"})


def _lti(request: Request) -> LtiSection:
    return context_of(request.app).settings.lti


def launch_url(request: Request) -> str:
    """The redirect URI registered with every platform (must match exactly)."""
    settings = context_of(request.app).settings
    public = (_lti(request).public_url or settings.public_url or "").rstrip("/")
    return f"{public}{settings.service_prefix}lti/launch"


def _state_cookie(state: str) -> str:
    # One cookie per login, so two launches in two tabs do not clobber each other.
    return "coursehub-lti-" + hashlib.sha256(state.encode()).hexdigest()[:16]


def _cookie_args(request: Request) -> dict[str, Any]:
    settings = context_of(request.app).settings
    secure = browser_uses_https(request, _lti(request).public_url or settings.public_url)
    # Inside an LMS iframe the launch is a cross-site POST: only SameSite=None cookies
    # come back with it, and browsers take those only with Secure (https).
    return {
        "path": settings.service_prefix + "lti/",
        "max_age": STATE_SECONDS,
        "secure": secure,
        "samesite": "none" if secure else "lax",
    }


def refused(request: Request, exc: LaunchRefused, issuer: Any = None) -> Response:
    log.warning("LTI launch refused (%s): %s [iss=%s]", exc.code, exc, str(issuer or "?")[:200])
    return error_response(
        request, exc.status, f"The LMS launch was refused: {exc}.", f"lti_{exc.code}"
    )


async def _params(request: Request) -> dict[str, str]:
    found: dict[str, str] = {}
    sources: list[Mapping[str, Any]] = [request.query_params]
    if int(request.headers.get("content-length") or 0) > MAX_LAUNCH_BYTES:
        raise LaunchRefused("too_large", "the login request is far larger than any LTI login", 413)
    if request.method == "POST":
        sources.append(await request.form())
    for source in sources:
        for name in LOGIN_PARAMS:
            value = source.get(name)
            if isinstance(value, str) and value:
                found[name] = value[:MAX_PARAM_CHARS]
    return found


@router.api_route("/lti/login", methods=["GET", "POST"], include_in_schema=False)
async def lti_login(request: Request) -> Response:
    """OIDC login initiation: the LMS sends the browser here first."""
    if not _lti(request).enabled:
        return error_response(request, 404, "Sign-in from an LMS is not turned on on this site.")
    try:
        params = await _params(request)
    except LaunchRefused as exc:
        return refused(request, exc)
    issuer = params.get("iss")
    if not issuer or not params.get("login_hint"):
        refusal = LaunchRefused("bad_login", "the LMS did not send iss and login_hint")
        return refused(request, refusal, issuer)
    db = context_of(request.app).database
    platforms = await asyncio.to_thread(
        PlatformStore(db).for_issuer, issuer, params.get("client_id")
    )
    if not platforms:
        refusal = LaunchRefused(
            "unregistered_issuer",
            f"the launch came from {issuer[:200]!r}, which is not a registered LMS platform; "
            "an admin can register it with `coursehub lti add-platform`",
            403,
        )
        return refused(request, refusal, issuer)
    if len(platforms) > 1:
        refusal = LaunchRefused(
            "ambiguous_platform",
            "several registrations share this issuer, and the LMS sent no client_id to choose",
        )
        return refused(request, refusal, issuer)
    platform = platforms[0]
    deployment = params.get("lti_deployment_id")
    if deployment and not platform.accepts_deployment(deployment):
        refusal = LaunchRefused("unknown_deployment", platform.deployment_refusal(deployment), 403)
        return refused(request, refusal, issuer)
    login: LoginState = await asyncio.to_thread(StateStore(db).begin, platform.id)
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": launch_url(request),
        "login_hint": params["login_hint"],
        "state": login.state,
        "nonce": login.nonce,
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    glue = "&" if "?" in platform.auth_login_url else "?"
    auth_url = platform.auth_login_url + glue + urlencode(query)
    retry_url = request.url_for("lti_login").path + "?" + urlencode(params)
    response = render(request, "lti/login.html", auth_url=auth_url, retry_url=retry_url)
    args = _cookie_args(request)
    response.set_cookie(_state_cookie(login.state), login.state, httponly=True, **args)
    # Readable by the page's script: if it is missing there, the browser blocks our
    # cookies here (an LMS iframe) and the page offers a new window instead.
    response.set_cookie(CHECK_COOKIE, "1", httponly=False, **args)
    response.headers["Cache-Control"] = "no-store"
    return response


def _check_state_cookie(request: Request, state: str) -> None:
    cookie = request.cookies.get(_state_cookie(state)) if state else None
    if cookie is None:
        if not any(name.startswith("coursehub-lti-") for name in request.cookies):
            raise LaunchRefused(
                "no_cookie",
                "your browser did not send back coursehub's sign-in cookie (browsers often block "
                "cookies in pages shown inside another site). Open the activity again; if the LMS "
                "shows it inside its own page, choose to open it in a new window",
                403,
            )
        raise LaunchRefused(
            "bad_state", "the launch's state does not match the one this browser was given", 403
        )
    if not hmac.compare_digest(cookie, state):
        raise LaunchRefused(
            "bad_state", "the launch's state does not match the one this browser was given", 403
        )


def _validate(request: Request, id_token: str, login: LoginState) -> ValidLaunch:
    issuer = _unverified_issuer(id_token)
    store = PlatformStore(context_of(request.app).database)
    candidates = store.for_issuer(issuer) if isinstance(issuer, str) else []
    return validate_id_token(
        id_token,
        candidates=candidates,
        key_sets=context_of(request.app).lti_key_sets,
        expected_nonce=login.nonce,
        expected_platform_id=login.platform_id,
    )


def _unverified_issuer(id_token: str) -> Any:
    try:
        return jwt.decode(id_token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None


@router.post("/lti/launch", include_in_schema=False)
async def lti_launch(request: Request) -> Response:
    """The platform posts the signed id_token (and our state) here."""
    if not _lti(request).enabled:
        return error_response(request, 404, "Sign-in from an LMS is not turned on on this site.")
    if int(request.headers.get("content-length") or 0) > MAX_LAUNCH_BYTES:
        exc = LaunchRefused("too_large", "the launch is far larger than any LTI launch", 413)
        return refused(request, exc)
    form = await request.form()
    id_token = form.get("id_token")
    state = form.get("state")
    id_token = id_token if isinstance(id_token, str) else ""
    state = state if isinstance(state, str) else ""
    issuer = _unverified_issuer(id_token) if id_token else None
    if not id_token and isinstance(form.get("error"), str):
        described = str(form.get("error_description") or form.get("error"))[:300]
        exc = LaunchRefused("platform_error", f"the LMS reported an error: {described}")
        return refused(request, exc, issuer)
    states = StateStore(context_of(request.app).database)
    try:
        if await asyncio.to_thread(states.was_used, state):
            raise _replayed()
        _check_state_cookie(request, state)
        login = await asyncio.to_thread(states.consume, state)
        launch = await asyncio.to_thread(_validate, request, id_token, login)
        next_url = await asyncio.to_thread(_land, request, launch)
    except LaunchRefused as exc:
        return refused(request, exc, issuer)
    except IdentityError as exc:
        return refused(request, LaunchRefused("identity", str(exc)), issuer)
    except CoursehubError as exc:  # e.g. the new course's repository could not be made
        log.exception("LTI launch failed while setting up its course")
        return refused(request, LaunchRefused("course_setup", str(exc), 500), issuer)
    if next_url.course and next_url.new_identity:
        # Scores held back until this student had an LMS account can go out now.
        await asyncio.to_thread(
            retry_new_identities, context_of(request.app).database, next_url.course
        )
        from coursehub.service.tasks.lti import wake_sender  # it imports this module

        wake_sender(request.app)
    tickets = SignInTickets(context_of(request.app).database)
    binding = new_binding()
    ticket = await asyncio.to_thread(tickets.issue, next_url.username, next_url.path, binding)
    settings = context_of(request.app).settings
    signin = f"{settings.hub_prefix}coursehub/signin"
    response = RedirectResponse(f"{signin}?{urlencode({'ticket': ticket})}", status_code=303)
    args = _cookie_args(request)
    # Only this browser can redeem the ticket (a forwarded ticket link signs nobody in).
    response.set_cookie(
        BINDING_COOKIE,
        binding,
        httponly=True,
        **{**args, "path": signin, "max_age": TICKET_SECONDS},
    )
    response.delete_cookie(
        _state_cookie(state),
        path=args["path"],
        secure=args["secure"],
        samesite=args["samesite"],
        httponly=True,
    )
    # The launch may be a different person than whoever last used this browser: the
    # service's own session starts over (the hub's is replaced by the ticket).
    resolver = context_of(request.app).resolver
    if getattr(resolver, "token_cookie_name", None):
        clear_cookie(response, request, resolver.token_cookie_name, settings.service_prefix)
    return response


@dataclass(frozen=True)
class _Landing:
    username: str
    path: str
    course: str | None = None
    new_identity: bool = False


def _land(request: Request, launch: ValidLaunch) -> _Landing:
    """Account, course, enrolment and destination of a valid launch."""
    settings = context_of(request.app).settings
    lti = _lti(request)
    db = context_of(request.app).database
    courses = context_of(request.app).courses
    claim = lti.username_claim
    person = LmsPerson.from_claims(launch.claims)
    identities = IdentityStore(db)
    new_identity = identities.known(launch.platform.id, person.subject) is None
    username = identities.username_for(launch.platform, person, claim)
    context = record_context(db, launch)
    role = launch_role(launch)
    prefix = settings.service_prefix
    course = context.course if context.course and courses.get(context.course) else None
    if course is None:
        if role != "instructor":
            raise LaunchRefused(
                "not_linked",
                "this LMS course is not linked to a coursehub course yet; ask your instructor "
                "to open it once from the LMS",
                409,
            )
        teaches = [e for e in courses.courses_of(username) if e.role == "instructor"]
        if lti.auto_create_courses and not teaches:
            layout = DataLayout(Path(settings.data_dir))
            course = create_course_for_context(db, layout, courses, context.pk, username)
            log.info("LTI: created course %s for LMS course %r", course, context.title)
        else:
            launch_id = _save_launch(db, username, launch, context.pk)
            return _Landing(username, f"{prefix}lti/link/{launch_id}")
    if role is not None:
        enrol_from_launch(courses, course, username, role)
    elif courses.role_of(course, username) is None:
        raise LaunchRefused(
            "no_role",
            "your role in the LMS course gives no access to its coursehub course",
            403,
        )
    log.info(
        "LTI launch: %s (%s) as %s in %s", username, launch.platform.name, role or "member", course
    )
    if launch.message_type == DEEP_LINKING:
        if courses.role_of(course, username) not in ("instructor", "ta"):
            raise LaunchRefused(
                "not_staff", "only the course's instructors can choose content for the LMS", 403
            )
        launch_id = _save_launch(db, username, launch, context.pk)
        return _Landing(username, f"{prefix}lti/deep-link/{launch_id}", course, new_identity)
    return _Landing(username, target_path(prefix, course, launch), course, new_identity)


def _save_launch(db: Any, username: str, launch: ValidLaunch, context_pk: int) -> str:
    from coursehub.lti.launch_records import LaunchStore

    return LaunchStore(db).save(
        username, launch.platform.id, context_pk, launch.message_type, launch.claims
    )
