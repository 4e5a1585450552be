"""The LTI tool's key pair: made once, private, published as a JWKS that verifies
what the tool signs."""

from __future__ import annotations

import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest

from coursehub.core.errors import SetupError
from coursehub.lti.keys import ensure_tool_key, jwks, read_tool_key


def test_made_once_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "lti_tool_key.pem"
    first = ensure_tool_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = ensure_tool_key(path)
    assert again.kid == first.kid and again.private_pem == first.private_pem
    assert "BEGIN PRIVATE KEY" not in repr(first)  # the private half stays out of logs


def test_racing_first_runs_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "lti_tool_key.pem"
    with ThreadPoolExecutor(4) as pool:
        kids = {k.kid for k in pool.map(lambda _: ensure_tool_key(path), range(4))}
    assert len(kids) == 1


def test_the_published_jwks_verifies_what_the_tool_signs(tmp_path: Path) -> None:
    key = ensure_tool_key(tmp_path / "k.pem")
    published = jwks(key)
    [entry] = published["keys"]
    assert entry["kid"] == key.kid and entry["alg"] == "RS256" and entry["use"] == "sig"
    assert "d" not in entry and "p" not in entry  # no private parameters
    now = int(time.time())
    token = jwt.encode(
        {"iss": "coursehub", "iat": now, "exp": now + 60},
        key.private_pem,
        algorithm="RS256",
        headers={"kid": key.kid},
    )
    verifier = jwt.PyJWK(entry).key
    assert jwt.decode(token, verifier, algorithms=["RS256"])["iss"] == "coursehub"
    other = ensure_tool_key(tmp_path / "other.pem")
    assert other.kid != key.kid
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, jwt.PyJWK(other.jwk()).key, algorithms=["RS256"])


def test_a_key_others_can_read_or_a_broken_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    ensure_tool_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(SetupError, match="chmod 600"):
        read_tool_key(path)
    path.write_text("not a key")
    os.chmod(path, 0o600)
    with pytest.raises(SetupError, match="delete it"):
        read_tool_key(path)


async def test_the_service_publishes_the_tool_jwks_without_sign_in(tmp_path: Path) -> None:
    from tests.helpers.fake_hub import PREFIX, build, client

    app, _ = build(COURSEHUB_DATA_DIR=str(tmp_path / "data"))
    async with client(app) as c:
        first = await c.get(PREFIX + "lti/jwks.json")
        second = await c.get(PREFIX + "lti/jwks.json")
    assert first.status_code == 200, first.text
    assert first.json() == second.json()  # the same key on every request
    [entry] = first.json()["keys"]
    key = read_tool_key(tmp_path / "data" / "secrets" / "lti_tool_key.pem")
    assert entry == key.jwk()
    assert "d" not in entry
