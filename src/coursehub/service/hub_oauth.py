"""The real identity resolver: JupyterHub's HubOAuth, used through its async API."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import OrderedDict

import httpx
from jupyterhub.httpclient import JupyterHubHTTPClient
from jupyterhub.services.auth import HubOAuth, check_scopes
from jupyterhub.utils import make_ssl_context
from tornado.httputil import url_concat
from tornado.web import HTTPError

from coursehub.service.identity import HubUnavailable, HubUser, OAuthFailed, PendingLogin
from coursehub.service.settings import ServiceSettings

log = logging.getLogger("coursehub.service")

# The hub's client has no overall timeout of its own; a hung hub must not hang pages.
HUB_TIMEOUT = 10.0
PING_TIMEOUT = 3.0
# Anonymous page views each start a sign-in; cap how many are remembered at once.
MAX_PENDING_LOGINS = 5000


class HubIdentityResolver:
    """Identifies tokens with the hub and runs its OAuth flow (see identity.IdentityResolver)."""

    def __init__(self, settings: ServiceSettings, max_pending: int = MAX_PENDING_LOGINS):
        self.settings = settings
        self.max_pending = max_pending
        self._pending: OrderedDict[str, None] = OrderedDict()
        # Every trait is passed explicitly so nothing is picked up from os.environ here.
        self.auth = HubOAuth(
            api_token=settings.api_token,
            api_url=settings.api_url,
            base_url=settings.service_prefix,
            hub_prefix=settings.hub_prefix,
            hub_host=settings.hub_host,
            oauth_client_id=settings.client_id,
            oauth_redirect_uri=settings.callback_url,
            access_scopes=set(settings.access_scopes),
            keyfile=settings.ssl_keyfile,
            certfile=settings.ssl_certfile,
            client_ca=settings.ssl_client_ca,
            cookie_options={},
        )

    @property
    def token_cookie_name(self) -> str:
        return self.auth.cookie_name

    @property
    def state_cookie_name(self) -> str:
        return self.auth.state_cookie_name

    async def user_for_token(self, token: str, session_id: str = "") -> HubUser | None:
        # HubAuth caches answers per (session, token hash) for cache_max_age seconds; the
        # hub session id in the key makes a hub logout take effect at once.
        try:
            async with asyncio.timeout(HUB_TIMEOUT):
                model = await self.auth.user_for_token(token, session_id=session_id, sync=False)
        except (HTTPError, TimeoutError) as exc:
            raise HubUnavailable(f"could not check identity with the hub: {_why(exc)}") from None
        return HubUser.from_model(model) if model else None

    def has_access(self, user: HubUser) -> bool:
        return bool(check_scopes(set(self.settings.access_scopes), set(user.scopes)))

    def begin_login(self, next_url: str, cookie_name: str) -> tuple[PendingLogin, str]:
        verifier, challenge, method = self.auth.generate_pkce_code_challenge()
        # HubOAuth keeps pending states in memory, expiring after oauth_state_max_age.
        state = self.auth.generate_state(next_url, code_verifier=verifier, cookie_name=cookie_name)
        self._pending[state] = None
        while len(self._pending) > self.max_pending:
            # Oldest first: under a flood of anonymous visits memory stays bounded and
            # only the oldest unfinished sign-ins have to start again.
            oldest, _ = self._pending.popitem(last=False)
            self.auth.clear_oauth_state(oldest)
        url = url_concat(
            self.auth.login_url,
            {"state": state, "code_challenge": challenge, "code_challenge_method": method},
        )
        return PendingLogin(state, cookie_name, next_url, verifier), url

    def pending_login(self, state: str) -> PendingLogin | None:
        # begin_login always stores a verifier, so its absence means unknown or expired.
        verifier = self.auth.get_code_verifier(state)
        if not verifier:
            return None
        return PendingLogin(
            state=state,
            cookie_name=self.auth.get_state_cookie_name(state),
            next_url=self.auth.get_next_url(state),
            code_verifier=verifier,
        )

    def end_login(self, state: str) -> None:
        self._pending.pop(state, None)
        self.auth.clear_oauth_state(state)

    async def token_for_code(self, code: str, code_verifier: str | None) -> str:
        try:
            async with asyncio.timeout(HUB_TIMEOUT):
                return await self.auth.token_for_code(code, code_verifier=code_verifier, sync=False)
        except TimeoutError:
            raise HubUnavailable("the hub did not answer the token request") from None
        except HTTPError as exc:
            # HubAuth reports both "could not connect" and "the hub said no" as HTTP 500;
            # only its message tells them apart.
            why = _why(exc)
            if exc.status_code >= 502 or why.startswith("Failed to connect"):
                raise HubUnavailable(why) from None
            raise OAuthFailed(why) from None

    async def hub_ok(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=PING_TIMEOUT, verify=self._verify()) as client:
                response = await client.get(self.settings.api_url + "/")
        except (httpx.HTTPError, OSError) as exc:
            log.warning("hub API did not answer: %s", exc.__class__.__name__)
            return False
        return response.status_code == 200

    def _verify(self) -> ssl.SSLContext | bool:
        # With internal SSL the hub wants our client certificate, like HubAuth sends it.
        context = make_ssl_context(
            self.settings.ssl_keyfile,
            self.settings.ssl_certfile,
            cafile=self.settings.ssl_client_ca or None,
        )
        return context if context is not None else True

    async def close(self) -> None:
        await JupyterHubHTTPClient.loop_instance().close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, HTTPError):
        return exc.log_message or f"HTTP {exc.status_code}"
    return exc.__class__.__name__
