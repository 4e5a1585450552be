"""A `?auth_token=` sign-in link works once. Such links end up in browser history, proxy
logs, an LMS page's HTML and `Referer` headers; whoever finds one must not be able to
sign in as its student for the rest of its lifetime (up to an hour). The LMS plugin
makes a new link each time the student follows it from the LMS."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest

from tests.helpers import hubproc
from tests.helpers.signin_flows import whoami

pytestmark = [pytest.mark.integration, pytest.mark.root]

SECRET = b"lms-plugin-shared-secret-for-tests-0123456789"
AUD, ISS = "coursehub-test", "https://moodle.example.edu"


@pytest.fixture(scope="module")
def hub(
    site_folder: Callable[..., Path], start_hub: Callable[..., hubproc.RunningHub]
) -> hubproc.RunningHub:
    base = site_folder("link-replay")
    secret = base / "jwt.secret"
    secret.write_bytes(SECRET + b"\n")
    os.chmod(secret, 0o600)
    return start_hub(
        base,
        users={"admin1": "admin1-pass-123"},
        roles={"admin1": "admin"},
        extra_yaml=(
            "auth:\n  methods: [local, jwt]\n"
            f"  jwt:\n    secret_file: {secret}\n    audience: {AUD}\n    issuer: {ISS}\n"
            "    create_accounts: true\n"
        ),
    )


def _link(username: str, lifetime: int = 3000) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + lifetime, "username": username}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _follow(hub: hubproc.RunningHub, link: str, path: str = "/hub/login") -> tuple[int, str, str]:
    with httpx.Client(base_url=hub.url, timeout=30, follow_redirects=False) as client:
        answer = client.get(path, params={"auth_token": link, "next": "/hub/token"})
        me = whoami(client)
    return answer.status_code, answer.text, (me or {}).get("name", "")


def test_a_sign_in_link_works_once(hub: hubproc.RunningHub) -> None:
    link = _link("jo")
    assert _follow(hub, link)[::2] == (302, "jo")  # the student's own use
    # Someone who found the link later, on either sign-in path
    for path in ("/hub/login", "/hub/jwt_login"):
        status, page, name = _follow(hub, link, path)
        assert (status, name) == (401, ""), (path, status, name)
        assert "already been used" in page
    # A new link from the LMS still works.
    assert _follow(hub, _link("jo", lifetime=2999))[::2] == (302, "jo")
    log = hub.log.read_text(errors="replace")
    assert "Sign-in link refused (link_used)" in log and link not in log
