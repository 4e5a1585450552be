"""A stand-in for the hub, and helpers to drive the coursehub service app in-process.

Used by unit tests of routing, errors and authorisation: the real hub, its OAuth and
its token checks are exercised by the integration tests.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
from fastapi import FastAPI

from coursehub.service.app import create_app
from coursehub.service.identity import HubUnavailable, HubUser, OAuthFailed, PendingLogin
from coursehub.service.settings import ServiceSettings

PREFIX = "/services/coursehub/"
ACCESS = "access:services!service=coursehub"
API_TOKEN = "service-api-token-" + "x" * 32


class FakeResolver:
    """Stands in for the hub: tokens map to users, OAuth codes map to tokens."""

    token_cookie_name = "service-coursehub"
    state_cookie_name = "service-coursehub-oauth-state"

    def __init__(self, users: dict[str, HubUser], hub_up: bool = True):
        self.users = users
        self.hub_up = hub_up
        self.identity_down = False
        self.codes: dict[str, str] = {}
        self.pending: dict[str, PendingLogin] = {}

    async def user_for_token(self, token: str, session_id: str = "") -> HubUser | None:
        if self.identity_down:
            raise HubUnavailable("hub down")
        return self.users.get(token)

    def has_access(self, user: HubUser) -> bool:
        return ACCESS in user.scopes

    def begin_login(self, next_url: str, cookie_name: str) -> tuple[PendingLogin, str]:
        pending = PendingLogin(secrets.token_urlsafe(8), cookie_name, next_url, "verifier")
        self.pending[pending.state] = pending
        return pending, f"/hub/api/oauth2/authorize?state={pending.state}"

    def pending_login(self, state: str) -> PendingLogin | None:
        return self.pending.get(state)

    def end_login(self, state: str) -> None:
        self.pending.pop(state, None)

    async def token_for_code(self, code: str, code_verifier: str | None) -> str:
        assert code_verifier == "verifier"
        if code not in self.codes:
            raise OAuthFailed("invalid_grant")
        return self.codes.pop(code)

    async def hub_ok(self) -> bool:
        return self.hub_up

    async def close(self) -> None:
        pass


def user(name: str, groups: tuple[str, ...] = (), admin: bool = False, access: bool = True):
    return HubUser(name, admin, groups, frozenset({ACCESS} if access else set()))


USERS = {
    "tok-inst": user("ines", ("coursehub-instructors",)),
    "tok-admin": user("ada", admin=True),
    "tok-student": user("sam", ("coursehub-students",)),
    "tok-noaccess": user("nora", access=False),
    "tok-evil": user("<script>alert('x')</script>&"),
}


def make_settings(**overrides) -> ServiceSettings:
    env = {
        "JUPYTERHUB_API_TOKEN": API_TOKEN,
        "JUPYTERHUB_CLIENT_ID": "service-coursehub",
        "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
        "JUPYTERHUB_SERVICE_NAME": "coursehub",
        "COURSEHUB_SITE_NAME": "Test <b>Hub</b> & Co",
        "COURSEHUB_VERSION": "9.9.9",
    }
    env.update(overrides)
    return ServiceSettings.from_env(env)


def build(resolver: FakeResolver | None = None, **env) -> tuple[FastAPI, FakeResolver]:
    resolver = resolver or FakeResolver(dict(USERS))
    return create_app(make_settings(**env), resolver=resolver), resolver


def client(app: FastAPI, base_url: str = "http://testserver") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url=base_url, follow_redirects=False)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text


def assert_security_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def service_on(
    db_url: str, data_dir: Path | str, more_users: dict[str, HubUser] | None = None, **env
) -> FastAPI:
    """The service on the coursehub database at `db_url`, its data in `data_dir`, for
    USERS and `more_users` (token -> user); `env`: more of its settings."""
    users = {**USERS, **(more_users or {})}
    app, _ = build(
        FakeResolver(users), COURSEHUB_DATABASE_URL=db_url, COURSEHUB_DATA_DIR=str(data_dir), **env
    )
    return app
