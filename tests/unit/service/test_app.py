"""Unit tests of the coursehub service's routing, errors, headers and sign-in plumbing.

This is a unit test of routing: the hub is replaced by `FakeResolver`, injected through
`create_app(settings, resolver=...)`. The real hub, its OAuth and its token checks are
exercised in tests/integration/service/test_service_oauth.py.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from coursehub.service import cookies
from tests.helpers.fake_hub import (
    API_TOKEN,
    PREFIX,
    USERS,
    FakeResolver,
    assert_error,
    assert_security_headers,
    bearer,
    build,
    client,
)

# Every page loads only the site's own time script (times in the viewer's zone); no
# inline script, nothing a request or a name could add.
OUR_SCRIPTS = [f'<script src="{PREFIX}static/times.js" defer>']


def scripts(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", html)

# -- the one error shape ---------------------------------------------------------------


async def test_api_errors_have_one_shape_for_each_status(caplog):
    app, resolver = build()

    @app.get(PREFIX + "api/_test/count")
    async def count(n: int) -> dict:
        return {"n": n}

    @app.get(PREFIX + "api/_test/boom")
    async def boom() -> dict:
        raise RuntimeError("secret internals")

    async with client(app) as c:
        unauth = await c.get(PREFIX + "api/whoami")
        assert_error(unauth, 401, "not_authenticated")
        assert unauth.headers["www-authenticate"].startswith("Bearer")
        assert_error(
            await c.get(PREFIX + "api/whoami", headers=bearer("nope")), 401, "not_authenticated"
        )
        assert_error(
            await c.get(PREFIX + "api/whoami", headers=bearer("tok-noaccess")), 403, "forbidden"
        )
        assert_error(await c.get(PREFIX + "api/no/such/thing"), 404, "not_found")
        assert_error(await c.delete(PREFIX + "api/nothing"), 404, "not_found")
        assert_error(
            await c.post(PREFIX + "api/whoami", headers=bearer("tok-inst")),
            405,
            "method_not_allowed",
        )
        bad = await c.get(PREFIX + "api/_test/count", params={"n": "<many>"})
        assert_error(bad, 400, "invalid_request")
        assert "<many>" not in bad.text
        missing = await c.get(PREFIX + "api/_test/count")
        assert_error(missing, 400, "invalid_request")
        with caplog.at_level(logging.ERROR, logger="coursehub.service"):
            crashed = await c.get(PREFIX + "api/_test/boom")
        assert_error(crashed, 500, "internal_error")
        assert "secret internals" not in crashed.text
        assert_security_headers(crashed)
        assert any("secret internals" in (r.exc_text or "") for r in caplog.records)
        resolver.identity_down = True
        down = await c.get(PREFIX + "api/whoami", headers=bearer("tok-inst"))
        assert_error(down, 503, "hub_unavailable")


async def test_pages_get_an_html_error_page_not_json():
    app, _ = build()

    @app.get(PREFIX + "_test/boom")
    async def boom() -> dict:
        raise RuntimeError("secret internals")

    async with client(app) as c:
        missing = await c.get(PREFIX + "no-such-page/%3Cscript%3Ealert(1)%3C/script%3E")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert scripts(missing.text) == OUR_SCRIPTS  # the path's script is text
        crashed = await c.get(PREFIX + "_test/boom")
        assert crashed.status_code == 500
        assert crashed.headers["content-type"].startswith("text/html")
        assert "secret internals" not in crashed.text and "Traceback" not in crashed.text
        forbidden = await c.get(PREFIX, headers=bearer("tok-noaccess"))
        assert forbidden.status_code == 403 and "text/html" in forbidden.headers["content-type"]


# -- health -----------------------------------------------------------------------------


async def test_health_all_ok_without_database():
    app, _ = build()
    async with client(app) as c:
        response = await c.get(PREFIX + "health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "hub": "ok",
        "database": "not configured",
        "version": "9.9.9",
    }
    assert_security_headers(response)


async def test_health_reports_unreachable_hub():
    app, _ = build(FakeResolver(dict(USERS), hub_up=False))
    async with client(app) as c:
        response = await c.get(PREFIX + "health")
    assert response.status_code == 503
    assert response.json()["hub"] == "unreachable"
    assert response.json()["status"] != "ok"


async def test_health_checks_a_real_database(tmp_path: Path):
    app, _ = build(COURSEHUB_DATABASE_URL=f"sqlite:///{tmp_path / 'coursehub.sqlite'}")
    async with client(app) as c:
        response = await c.get(PREFIX + "health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-coursehub-dir/sub/db.sqlite",
        "postgresql+psycopg://coach:hunter2-db-password@127.0.0.1:1/coursehub",
    ],
)
async def test_health_reports_unreachable_database_without_leaking(url: str, caplog):
    app, _ = build(COURSEHUB_DATABASE_URL=url)
    with caplog.at_level(logging.DEBUG):
        async with client(app) as c:
            response = await c.get(PREFIX + "health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    for secret in ("hunter2", API_TOKEN, "nonexistent-coursehub-dir"):
        assert secret not in response.text
        assert secret not in caplog.text


# -- pages and escaping -----------------------------------------------------------------


async def test_home_page_shows_user_role_and_links():
    app, _ = build()
    async with client(app) as c:
        response = await c.get(PREFIX, headers=bearer("tok-inst"))
    assert response.status_code == 200
    html = response.text
    assert 'Signed in as <strong class="name">ines</strong>' in html
    assert "instructor" in html
    assert "My courses" in html and "not enrolled in any course yet" in html
    # the way to a server is a course: the menu leads to My courses, not to a server
    assert f'<a href="{PREFIX}">My courses</a>' in html and 'href="/hub/logout"' in html
    assert "My server" not in html
    assert f'href="{PREFIX}static/coursehub.css"' in html
    assert scripts(html) == OUR_SCRIPTS
    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"


async def test_hostile_user_and_site_names_are_escaped():
    app, _ = build()
    async with client(app) as c:
        response = await c.get(PREFIX, headers=bearer("tok-evil"))
    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;" in response.text
    assert "<b>Hub</b>" not in response.text
    assert "Test &lt;b&gt;Hub&lt;/b&gt; &amp; Co" in response.text


async def test_static_css_is_served_with_headers():
    app, _ = build()
    async with client(app) as c:
        response = await c.get(PREFIX + "static/coursehub.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert_security_headers(response)


# -- bearer tokens and roles ------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "token", "Token"])
async def test_whoami_with_header_token(scheme: str):
    app, _ = build()
    async with client(app) as c:
        response = await c.get(
            PREFIX + "api/whoami", headers={"Authorization": f"{scheme} tok-inst"}
        )
    assert response.status_code == 200
    assert response.json() == {
        "name": "ines",
        "role": "instructor",
        "groups": ["coursehub-instructors"],
        "admin": False,
    }
    assert_security_headers(response)


@pytest.mark.parametrize(
    ("token", "role"), [("tok-admin", "admin"), ("tok-student", "student"), ("tok-evil", "student")]
)
async def test_roles_come_from_hub_groups_and_admin_flag(token: str, role: str):
    app, _ = build()
    async with client(app) as c:
        response = await c.get(PREFIX + "api/whoami", headers=bearer(token))
    assert response.json()["role"] == role


@pytest.mark.parametrize("header", ["Basic dG9rLWluc3Q=", "Bearer", "Bearer tok-inst extra", ""])
async def test_malformed_authorization_is_401(header: str):
    app, _ = build()
    async with client(app) as c:
        response = await c.get(PREFIX + "api/whoami", headers={"Authorization": header})
    assert_error(response, 401, "not_authenticated")


# -- cookies and the OAuth dance --------------------------------------------------------


def cookie_header(**values: str) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in values.items())}


def set_cookies(response: httpx.Response) -> dict[str, str]:
    found = {}
    for raw in response.headers.get_list("set-cookie"):
        name, _, rest = raw.partition("=")
        found[name] = rest
    return found


@pytest.mark.parametrize("base_url", ["http://testserver", "https://testserver"])
async def test_oauth_dance_sets_a_locked_down_cookie(base_url: str):
    app, resolver = build()
    async with client(app, base_url) as c:
        start = await c.get(PREFIX + "?tab=1")
        assert start.status_code == 302
        location = urlparse(start.headers["location"])
        assert location.path == "/hub/api/oauth2/authorize"
        state = parse_qs(location.query)["state"][0]
        state_cookie = set_cookies(start)["service-coursehub-oauth-state"]
        assert "HttpOnly" in state_cookie and f"Path={PREFIX}" in state_cookie
        state_value = state_cookie.split(";")[0]

        resolver.codes["code-1"] = "tok-inst"
        done = await c.get(
            PREFIX + "oauth_callback",
            params={"code": "code-1", "state": state},
            headers=cookie_header(**{"service-coursehub-oauth-state": state_value}),
        )
        assert done.status_code == 302
        assert done.headers["location"] == PREFIX + "?tab=1"
        token_cookie = set_cookies(done)["service-coursehub"]
        assert "HttpOnly" in token_cookie
        assert "SameSite=lax" in token_cookie
        assert f"Path={PREFIX}" in token_cookie
        assert ("Secure" in token_cookie) == base_url.startswith("https")
        signed = token_cookie.split(";")[0]
        key = cookies.signing_key(API_TOKEN)
        assert cookies.unsign(key, "service-coursehub", signed, 60) == "tok-inst"

        page = await c.get(PREFIX, headers=cookie_header(**{"service-coursehub": signed}))
        assert page.status_code == 200 and "ines" in page.text
        # A script on another page of this origin (fetch mode "cors") cannot use the cookie.
        scripted = await c.get(
            PREFIX + "api/whoami",
            headers={**cookie_header(**{"service-coursehub": signed}), "Sec-Fetch-Mode": "cors"},
        )
        assert_error(scripted, 401, "not_authenticated")
        navigated = await c.get(
            PREFIX + "api/whoami",
            headers={
                **cookie_header(**{"service-coursehub": signed}),
                "Sec-Fetch-Mode": "navigate",
            },
        )
        assert navigated.json()["name"] == "ines"
        # The code was used up: replaying the callback does not sign anyone in again.
        replay = await c.get(
            PREFIX + "oauth_callback",
            params={"code": "code-1", "state": state},
            headers=cookie_header(**{"service-coursehub-oauth-state": state_value}),
        )
        assert replay.status_code == 400


async def test_forged_cookie_is_ignored():
    app, _ = build()
    async with client(app) as c:
        raw = await c.get(PREFIX, headers=cookie_header(**{"service-coursehub": "tok-inst"}))
        assert raw.status_code == 302  # unsigned value: back to sign-in, not a hub lookup
        assert "service-coursehub=" in raw.headers.get("set-cookie", "")
        wrong_key = cookies.sign(b"k" * 32, "service-coursehub", "tok-inst")
        forged = await c.get(PREFIX, headers=cookie_header(**{"service-coursehub": wrong_key}))
        assert forged.status_code == 302


async def test_callback_rejects_foreign_or_missing_state():
    app, resolver = build()
    async with client(app) as c:
        start = await c.get(PREFIX)
        state = parse_qs(urlparse(start.headers["location"]).query)["state"][0]
        resolver.codes["code-2"] = "tok-inst"
        c.cookies.clear()
        # No state cookie in this browser: a login CSRF attempt.
        no_cookie = await c.get(
            PREFIX + "oauth_callback", params={"code": "code-2", "state": state}
        )
        assert no_cookie.status_code == 400
        assert "text/html" in no_cookie.headers["content-type"]
        assert "service-coursehub=" not in no_cookie.headers.get("set-cookie", "")
        unknown = await c.get(PREFIX + "oauth_callback", params={"code": "c", "state": "zzz"})
        assert unknown.status_code == 400
        hostile = await c.get(
            PREFIX + "oauth_callback",
            params={"error": "access_denied", "error_description": "<img src=x onerror=1>"},
        )
        assert hostile.status_code == 400
        assert "<img" not in hostile.text and "&lt;img" in hostile.text
        empty = await c.get(PREFIX + "oauth_callback")
        assert empty.status_code == 400
        assert_security_headers(empty)


async def test_unauthenticated_page_post_is_not_redirected():
    app, _ = build()
    async with client(app) as c:
        response = await c.post(PREFIX)
    assert response.status_code == 405


async def test_access_log_redacts_secrets(caplog):
    app, _ = build()
    with caplog.at_level(logging.INFO, logger="coursehub.service.access"):
        async with client(app) as c:
            await c.get(
                PREFIX + "oauth_callback",
                params={"code": "sekrit-code", "state": "sekrit-state", "x": "1"},
            )
            await c.get(PREFIX + "api/whoami", headers=bearer("tok-inst"))
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.endswith("access"))
    assert "oauth_callback" in text and "x=1" in text and "ines" in text
    for secret in ("sekrit-code", "sekrit-state", "tok-inst"):
        assert secret not in text


async def test_scripted_page_request_neither_signs_in_nor_clears_the_cookie():
    app, resolver = build()
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", "tok-inst")
    async with client(app) as c:
        response = await c.get(
            PREFIX,
            headers={**cookie_header(**{"service-coursehub": signed}), "Sec-Fetch-Mode": "cors"},
        )
    assert response.status_code == 401
    assert "text/html" in response.headers["content-type"]
    assert "set-cookie" not in response.headers
    assert resolver.pending == {}


async def test_cookie_whose_hub_token_died_is_cleared_on_the_way_to_sign_in():
    app, resolver = build()
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", "tok-revoked")
    async with client(app) as c:
        response = await c.get(PREFIX, headers=cookie_header(**{"service-coursehub": signed}))
    assert response.status_code == 302
    cleared = set_cookies(response)["service-coursehub"]
    assert cleared.startswith('""') and "Max-Age=0" in cleared
