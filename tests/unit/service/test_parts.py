"""Unit tests of the coursehub service's settings, cookie signing and log redaction."""

from __future__ import annotations

import time

import pytest

from coursehub.service import cookies
from coursehub.service.__main__ import main
from coursehub.service.identity import HubUser
from coursehub.service.middleware import loggable_target
from coursehub.service.settings import ServiceConfigError, ServiceSettings

HUB_ENV = {
    "JUPYTERHUB_API_TOKEN": "abc123secret",
    "JUPYTERHUB_CLIENT_ID": "service-coursehub",
    "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api/",
    "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:10345",
    "JUPYTERHUB_SERVICE_PREFIX": "/base/services/coursehub",
    "JUPYTERHUB_SERVICE_NAME": "coursehub",
    "JUPYTERHUB_OAUTH_CALLBACK_URL": "/base/services/coursehub/oauth_callback",
    "JUPYTERHUB_OAUTH_ACCESS_SCOPES": '["access:services!service=coursehub"]',
    "JUPYTERHUB_BASE_URL": "/base/",
    "COURSEHUB_SITE_NAME": "Physics 101",
    "COURSEHUB_DATABASE_URL": "postgresql://u:pw-secret@db/coursehub",
}


def test_settings_from_hub_environment():
    s = ServiceSettings.from_env(HUB_ENV)
    assert s.api_url == "http://127.0.0.1:8081/hub/api"
    assert (s.bind_host, s.bind_port) == ("127.0.0.1", 10345)
    assert s.service_prefix == "/base/services/coursehub/"
    assert s.hub_prefix == "/base/hub/"
    assert s.callback_url == "/base/services/coursehub/oauth_callback"
    assert s.access_scopes == {"access:services!service=coursehub"}
    assert s.site_name == "Physics 101"
    assert s.version  # package version when COURSEHUB_VERSION is unset
    assert "abc123secret" not in repr(s) and "pw-secret" not in repr(s)


def test_settings_defaults_and_version():
    s = ServiceSettings.from_env(
        {"JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_CLIENT_ID": "c", "COURSEHUB_VERSION": "1.2"}
    )
    assert s.database_url is None
    assert s.version == "1.2"
    assert s.access_scopes == {"access:services!service=coursehub"}
    assert s.callback_url == "/services/coursehub/oauth_callback"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"JUPYTERHUB_API_TOKEN": ""}, "JUPYTERHUB_API_TOKEN"),
        ({"JUPYTERHUB_CLIENT_ID": " "}, "JUPYTERHUB_CLIENT_ID"),
        ({"JUPYTERHUB_OAUTH_ACCESS_SCOPES": "[]"}, "JUPYTERHUB_OAUTH_ACCESS_SCOPES"),
        ({"JUPYTERHUB_OAUTH_ACCESS_SCOPES": "{bad"}, "JUPYTERHUB_OAUTH_ACCESS_SCOPES"),
        ({"JUPYTERHUB_SERVICE_URL": "unix:/x"}, "JUPYTERHUB_SERVICE_URL"),
    ],
)
def test_settings_problems_are_named(change: dict[str, str], expected: str):
    with pytest.raises(ServiceConfigError, match=expected) as info:
        ServiceSettings.from_env({**HUB_ENV, **change})
    assert "abc123secret" not in str(info.value)


def test_main_refuses_to_start_without_hub_environment(monkeypatch, capsys):
    for name in ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert main() == 2
    assert "JUPYTERHUB_API_TOKEN" in capsys.readouterr().err


def test_cookie_signing_round_trip_and_tamper():
    key = cookies.signing_key("api-token")
    signed = cookies.sign(key, "c", "value;with=odd chars")
    assert ";" not in signed and " " not in signed
    assert cookies.unsign(key, "c", signed, 60) == "value;with=odd chars"
    assert cookies.unsign(key, "other-name", signed, 60) is None
    assert cookies.unsign(cookies.signing_key("other"), "c", signed, 60) is None
    tampered = signed[:-1] + ("0" if signed[-1] != "0" else "1")
    assert cookies.unsign(key, "c", tampered, 60) is None
    assert cookies.unsign(key, "c", "garbage", 60) is None
    assert cookies.unsign(key, "c", "a.b.c", 60) is None
    old = cookies.sign(key, "c", "v", now=time.time() - 3600)
    assert cookies.unsign(key, "c", old, 60) is None


def test_log_target_redacts_secret_parameters():
    scope = {"path": "/p/oauth_callback", "query_string": b"code=abc&state=def&token=t&page=2"}
    target = loggable_target(scope)
    assert "abc" not in target and "def" not in target and "=t&" not in target
    assert target.startswith("/p/oauth_callback?") and "page=2" in target


def test_hub_user_from_model_and_roles():
    model = {
        "kind": "user",
        "name": "ines",
        "admin": False,
        "groups": ["coursehub-tas", "coursehub-instructors"],
        "scopes": ["access:services!service=coursehub"],
    }
    user = HubUser.from_model(model)
    assert user.role == "instructor"
    assert user.groups == ("coursehub-instructors", "coursehub-tas")
    assert HubUser.from_model({"name": "svc", "kind": "service"}).role == "service"
    assert HubUser.from_model({"name": "x", "admin": True}).role == "admin"
    assert HubUser.from_model({"name": "y"}).role == "student"


def closed_port_settings() -> ServiceSettings:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return ServiceSettings.from_env({**HUB_ENV, "JUPYTERHUB_API_URL": f"http://127.0.0.1:{port}/x"})


def test_real_resolver_builds_the_hub_authorize_url_and_bounds_pending_logins():
    from urllib.parse import parse_qs, urlparse

    from coursehub.service.hub_oauth import HubIdentityResolver

    resolver = HubIdentityResolver(ServiceSettings.from_env(HUB_ENV), max_pending=3)
    assert resolver.token_cookie_name == "service-coursehub"
    assert resolver.state_cookie_name == "service-coursehub-oauth-state"
    first, url = resolver.begin_login("/base/services/coursehub/?a=1", "state-cookie")
    parsed = urlparse(url)
    assert parsed.path == "/base/hub/api/oauth2/authorize"
    query = parse_qs(parsed.query)
    assert query["client_id"] == ["service-coursehub"]
    assert query["redirect_uri"] == ["/base/services/coursehub/oauth_callback"]
    assert query["state"] == [first.state]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert resolver.pending_login(first.state) == first
    assert resolver.pending_login("unknown") is None
    later = [resolver.begin_login("/base/services/coursehub/", "c")[0] for _ in range(3)]
    assert resolver.pending_login(first.state) is None  # evicted, oldest first
    assert all(resolver.pending_login(p.state) == p for p in later)
    resolver.end_login(later[0].state)
    assert resolver.pending_login(later[0].state) is None


async def test_real_resolver_reports_an_unreachable_hub():
    from coursehub.service.hub_oauth import HubIdentityResolver
    from coursehub.service.identity import HubUnavailable

    resolver = HubIdentityResolver(closed_port_settings())
    try:
        assert await resolver.hub_ok() is False
        with pytest.raises(HubUnavailable):
            await resolver.user_for_token("some-token")
        with pytest.raises(HubUnavailable):
            await resolver.token_for_code("code", "verifier")
    finally:
        await resolver.close()
