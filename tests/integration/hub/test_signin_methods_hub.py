"""A real hub offering passwords, LMS tickets and `?auth_token=` links at once.

Links and tickets sign the browser in and land on `next`; bad ones get a page saying why
and a log line naming the reason, never the token or ticket. The login page, in Chromium,
shows the password form and the note for students coming from an LMS.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from coursehub.accounts.signin_tickets import BINDING_COOKIE, SignInTickets, new_binding
from coursehub.accounts.store import AccountStore
from coursehub.config.layout import DataLayout
from coursehub.db.session import Database
from tests.helpers import hubproc
from tests.helpers.browser import SHOTS, chromium
from tests.helpers.browserless import _hub_xsrf

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"stu": "stu-pass-123", "prof": "prof-pass-123"}
SECRET = b"lms-plugin-shared-secret-for-tests-0123456789"
AUD, ISS = "coursehub-test", "https://moodle.example.edu"
LANDING = "/hub/token"  # any page of the hub that needs a signed-in user


@pytest.fixture(scope="module")
def hub(
    site_folder: Callable[..., Path], start_hub: Callable[..., hubproc.RunningHub]
) -> hubproc.RunningHub:
    base = site_folder("signin-site")
    secret = base / "jwt.secret"
    secret.write_bytes(SECRET + b"\n")
    os.chmod(secret, 0o600)
    return start_hub(
        base,
        users=USERS,
        roles={"prof": "instructor"},
        # stu's LMS links name their local account: an admin linked the two
        then=[("users", "link", "stu", "jwt")],
        extra_yaml=(
            "auth:\n  methods: [local, lti, jwt]\n"
            f"  jwt:\n    secret_file: {secret}\n    audience: {AUD}\n    issuer: {ISS}\n"
        ),
    )


def token(key: bytes = SECRET, **changes: Any) -> str:
    now = int(time.time())
    # each link the LMS plugin makes is new (links work once)
    claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "username": "Stu"}
    claims["jti"] = secrets.token_hex(8)
    claims.update(changes)
    return jwt.encode(claims, key, algorithm="HS256")


def alg_none_token() -> str:
    def b64(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "username": "stu"}
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def signed_in_as(client: httpx.Client) -> str | None:
    response = client.get("/hub/api/user", headers={"X-XSRFToken": _hub_xsrf(client)})
    return response.json()["name"] if response.status_code == 200 else None


@pytest.mark.parametrize("path", ["/hub/login", "/hub/jwt_login"])
def test_a_valid_link_signs_in_and_lands_on_next(hub: hubproc.RunningHub, path: str) -> None:
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        link = token()
        response = client.get(path, params={"auth_token": link, "next": LANDING})
        assert response.status_code == 302, response.text[:500]
        assert response.headers["location"] == LANDING
        assert "jupyterhub-hub-login" in client.cookies
        assert signed_in_as(client) == "stu"
        assert client.get(LANDING).status_code == 200
    assert link not in hub.log.read_text(errors="replace")


def test_next_outside_the_site_goes_home(hub: hubproc.RunningHub) -> None:
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        response = client.get(
            "/hub/login", params={"auth_token": token(), "next": "//evil.example/x"}
        )
        # home: the coursehub home, My courses
        assert response.status_code == 302
        assert response.headers["location"] == "/services/coursehub/"


@pytest.mark.parametrize(
    ("link", "reason", "words"),
    [
        (lambda: token(iat=int(time.time()) - 900, exp=int(time.time()) - 600),
         "token_expired", "the sign-in link has expired"),
        (lambda: token(aud="another-site"), "bad_audience", "made for another site (audience)"),
        (alg_none_token, "algorithm_not_allowed", "signature is not valid"),
        (lambda: token(key=b"not-the-hub-secret-but-long-enough-0123"),
         "bad_signature", "signature is not valid"),
        (lambda: token(username="dora"), "unknown_user", "no coursehub account"),
    ],
)  # fmt: skip
def test_bad_links_are_refused_with_a_page_and_a_log_line(
    hub: hubproc.RunningHub, link: Any, reason: str, words: str
) -> None:
    bad = link()
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        response = client.get("/hub/login", params={"auth_token": bad, "next": LANDING})
        assert response.status_code == 401
        assert words in response.text
        assert "Open coursehub again from your LMS" in response.text
        assert signed_in_as(client) is None
    line = f"Sign-in link refused ({reason})"
    deadline = time.monotonic() + 15  # the hub's log reaches up.log through `coursehub up`
    while line not in hub.log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.2)
    log = hub.log.read_text(errors="replace")
    assert line in log
    assert bad not in log and bad.split(".")[1] not in log


def test_a_ticket_signs_in_once_and_only_the_browser_it_was_issued_to(
    hub: hubproc.RunningHub,
) -> None:
    url = f"sqlite:///{DataLayout(hub.data_dir).coursehub_db_file}"
    # tickets are issued for accounts that LMS launches made
    AccountStore(Database(url)).add("lena", signin="lti")
    binding = new_binding()
    ticket = SignInTickets(Database(url)).issue("lena", LANDING, binding)
    # A forwarded ticket link (login CSRF): another browser is not signed in, and the
    # ticket is burnt.
    with httpx.Client(base_url=hub.url, timeout=30) as other:
        forwarded = other.get("/hub/coursehub/signin", params={"ticket": ticket})
        assert forwarded.status_code == 403
        assert signed_in_as(other) is None
    ticket = SignInTickets(Database(url)).issue("lena", LANDING, binding)
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        client.cookies.set(BINDING_COOKIE, binding, path="/hub/coursehub/signin")
        first = client.get("/hub/coursehub/signin", params={"ticket": ticket})
        assert first.status_code == 302 and first.headers["location"] == LANDING
        assert signed_in_as(client) == "lena"
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        client.cookies.set(BINDING_COOKIE, binding, path="/hub/coursehub/signin")
        again = client.get("/hub/coursehub/signin", params={"ticket": ticket})
        assert again.status_code == 403
        assert "This sign-in link has expired or was already used" in again.text
        assert signed_in_as(client) is None
    log = hub.log.read_text(errors="replace")
    assert "LMS sign-in ticket refused" in log
    assert ticket not in log and binding not in log


def test_login_page_offers_passwords_and_the_lms_note(hub: hubproc.RunningHub) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{hub.url}/hub/login?next={LANDING}")
        assert page.locator("#username_input").is_visible()
        assert page.locator("#password_input").is_visible()
        note = page.locator("#coursehub-lms-note")
        assert "Students: open coursehub from your course in the LMS" in note.inner_text()
        assert page.locator("text=Sign in with GitHub").count() == 0
        page.screenshot(path=str(SHOTS / "signin-methods-login.png"), full_page=True)
        page.fill("#username_input", "stu")
        page.fill("#password_input", USERS["stu"])
        page.click("#login_submit")
        page.wait_for_url(f"**{LANDING}")
        # a stale link from the LMS: the page says what happened and what to do
        old = int(time.time()) - 900
        fresh = browser.new_page()
        fresh.goto(f"{hub.url}/hub/login?auth_token={token(iat=old, exp=old + 300)}")
        assert "the sign-in link has expired" in fresh.inner_text("body")
        fresh.screenshot(path=str(SHOTS / "signin-link-expired.png"), full_page=True)
