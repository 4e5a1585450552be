"""The grading API's bearer tokens: only the configured algorithm and key, only fresh tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from coursehub.core.errors import CoursehubError
from coursehub.grading.remote_auth import (
    RemoteAuthConfigError,
    RemoteAuthError,
    RemoteAuthSettings,
    load_settings,
    verify_bearer,
)

NOW = 1_700_000_000
AUD = "coursehub-grading"
ISS = "https://lms.example.edu"
SECRET = b"hub-shared-secret-0123456789abcdef-xyz"
DROP = object()


@dataclass(frozen=True)
class Keys:
    private: rsa.RSAPrivateKey
    public_pem: str
    other: rsa.RSAPrivateKey


def _public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def keys() -> Keys:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Keys(private, _public_pem(private), other)


@pytest.fixture(scope="module")
def hs() -> RemoteAuthSettings:
    return RemoteAuthSettings(audience=AUD, issuer=ISS, secret=SECRET)


@pytest.fixture(scope="module")
def rs(keys: Keys) -> RemoteAuthSettings:
    return RemoteAuthSettings(audience=AUD, issuer=ISS, public_key=keys.public_pem)


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISS, "aud": AUD, "iat": NOW, "exp": NOW + 600, "sub": "lti-1"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


def hs_token(payload: dict[str, Any], secret: bytes = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: Any, key: bytes | None) -> str:
    """A token built without PyJWT, which refuses to make the dangerous ones."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(body)}"
    sig = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def refused(code: str, header: str | None, settings: RemoteAuthSettings, now: float = NOW) -> str:
    with pytest.raises(RemoteAuthError) as info:
        verify_bearer(header, settings, now=now)
    exc = info.value
    assert (exc.code, exc.status) == (code, 401), str(exc)
    assert isinstance(exc, CoursehubError)
    message = str(exc)
    assert message
    assert SECRET.decode() not in message
    for part in (header or "").split():
        pieces = [part, *part.split(".")]
        assert not any(len(p) > 8 and p in message for p in pieces), message
    return message


def test_valid_hs256_token_returns_its_claims(hs: RemoteAuthSettings) -> None:
    payload = claims()
    assert verify_bearer(f"Bearer {hs_token(payload)}", hs, now=NOW) == payload


def test_valid_rs256_token_returns_its_claims(keys: Keys, rs: RemoteAuthSettings) -> None:
    payload = claims(aud=[AUD, "other-service"])
    token = jwt.encode(payload, keys.private, algorithm="RS256")
    assert verify_bearer(f"Bearer {token}", rs, now=NOW) == payload


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_scheme_is_case_insensitive(hs: RemoteAuthSettings, scheme: str) -> None:
    assert verify_bearer(f"{scheme}  {hs_token(claims())} ", hs, now=NOW)["sub"] == "lti-1"


def test_real_clock_is_used_by_default(hs: RemoteAuthSettings) -> None:
    import time

    now = int(time.time())
    assert verify_bearer(f"Bearer {hs_token(claims(iat=now, exp=now + 60))}", hs)


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "bearer  "])
def test_missing_token(hs: RemoteAuthSettings, header: str | None) -> None:
    refused("missing_token", header, hs)


@pytest.mark.parametrize("scheme", ["Token", "Basic", "JWT"])
def test_wrong_scheme(hs: RemoteAuthSettings, scheme: str) -> None:
    refused("bad_scheme", f"{scheme} {hs_token(claims())}", hs)


def test_token_without_scheme_is_not_echoed(hs: RemoteAuthSettings) -> None:
    refused("bad_scheme", hs_token(claims()), hs)


def test_basic_credentials_are_refused(hs: RemoteAuthSettings) -> None:
    refused("bad_scheme", "Basic " + b64(b"instructor:hunter2hunter2"), hs)


def test_two_tokens(hs: RemoteAuthSettings) -> None:
    token = hs_token(claims())
    refused("malformed_header", f"Bearer {token} {token}", hs)


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "abc.def", "....", "é.é.é", "eyJhbGciOiJIUzI1NiJ9.!!!.c2ln"]
)
def test_garbage_token(hs: RemoteAuthSettings, token: str) -> None:
    refused("malformed_token", f"Bearer {token}", hs)


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_signed_payload_that_is_not_a_claims_object(hs: RemoteAuthSettings, payload: bytes) -> None:
    token = handmade({"alg": "HS256", "typ": "JWT"}, payload, key=SECRET)
    refused("malformed_token", f"Bearer {token}", hs)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(hs: RemoteAuthSettings, rs: RemoteAuthSettings, alg: str) -> None:
    token = handmade({"alg": alg, "typ": "JWT"}, claims(), key=None)
    assert token.endswith(".")
    refused("algorithm_not_allowed", f"Bearer {token}", hs)
    refused("algorithm_not_allowed", f"Bearer {token}", rs)


def test_missing_alg_is_refused(hs: RemoteAuthSettings) -> None:
    token = handmade({"typ": "JWT"}, claims(), key=SECRET)
    refused("algorithm_not_allowed", f"Bearer {token}", hs)


def test_hs256_signed_with_the_public_key_is_refused(keys: Keys, rs: RemoteAuthSettings) -> None:
    # The classic algorithm-confusion attack: the public key is public, so anyone could mint this.
    token = handmade({"alg": "HS256", "typ": "JWT"}, claims(), key=keys.public_pem.encode())
    refused("algorithm_not_allowed", f"Bearer {token}", rs)


def test_rs256_token_refused_when_hs256_is_configured(keys: Keys, hs: RemoteAuthSettings) -> None:
    token = jwt.encode(claims(), keys.private, algorithm="RS256")
    refused("algorithm_not_allowed", f"Bearer {token}", hs)


def test_other_hmac_algorithms_refused(hs: RemoteAuthSettings) -> None:
    token = jwt.encode(claims(), SECRET * 2, algorithm="HS512")
    refused("algorithm_not_allowed", f"Bearer {token}", hs)


def test_wrong_secret(hs: RemoteAuthSettings) -> None:
    token = hs_token(claims(), secret=b"another-secret-that-is-long-enough-0123")
    refused("bad_signature", f"Bearer {token}", hs)


def test_signature_of_another_rsa_key(keys: Keys, rs: RemoteAuthSettings) -> None:
    token = jwt.encode(claims(), keys.other, algorithm="RS256")
    refused("bad_signature", f"Bearer {token}", rs)


def test_tampered_payload(hs: RemoteAuthSettings) -> None:
    header, _, signature = hs_token(claims()).split(".")
    forged = b64(json.dumps(claims(sub="admin")).encode())
    refused("bad_signature", f"Bearer {header}.{forged}.{signature}", hs)


def test_expiry_allows_the_leeway_and_no_more(hs: RemoteAuthSettings) -> None:
    header = f"Bearer {hs_token(claims())}"
    assert verify_bearer(header, hs, now=NOW + 600 + 29)
    refused("token_expired", header, hs, now=NOW + 600 + 30)
    refused("token_expired", header, hs, now=NOW + 600 + 3600)


def test_wrong_audience(hs: RemoteAuthSettings) -> None:
    refused("bad_audience", f"Bearer {hs_token(claims(aud='another-api'))}", hs)
    refused("bad_audience", f"Bearer {hs_token(claims(aud=['a', 'b']))}", hs)


def test_wrong_issuer(hs: RemoteAuthSettings) -> None:
    refused("bad_issuer", f"Bearer {hs_token(claims(iss='https://evil.example'))}", hs)


@pytest.mark.parametrize("claim", ["aud", "iss", "exp", "iat"])
def test_missing_required_claim(hs: RemoteAuthSettings, claim: str) -> None:
    message = refused("missing_claim", f"Bearer {hs_token(claims(**{claim: DROP}))}", hs)
    assert repr(claim) in message


def test_nbf_in_the_future(hs: RemoteAuthSettings) -> None:
    refused("token_not_yet_valid", f"Bearer {hs_token(claims(nbf=NOW + 120))}", hs)
    assert verify_bearer(f"Bearer {hs_token(claims(nbf=NOW + 20))}", hs, now=NOW)
    assert verify_bearer(f"Bearer {hs_token(claims(nbf=NOW - 60))}", hs, now=NOW)


def test_iat_in_the_future(hs: RemoteAuthSettings) -> None:
    # Otherwise the lifetime limit could be dodged by a far-future iat and exp.
    token = hs_token(claims(iat=NOW + 86400 * 365, exp=NOW + 86400 * 365 + 60))
    refused("token_not_yet_valid", f"Bearer {token}", hs)


def test_lifetime_longer_than_allowed(hs: RemoteAuthSettings) -> None:
    refused("token_too_long_lived", f"Bearer {hs_token(claims(exp=NOW + 3601))}", hs)
    assert verify_bearer(f"Bearer {hs_token(claims(exp=NOW + 3600))}", hs, now=NOW)


@pytest.mark.parametrize("exp", ["soon", True, None, [NOW + 60], float("nan"), float("inf")])
def test_time_claims_must_be_numbers(hs: RemoteAuthSettings, exp: Any) -> None:
    code = "missing_claim" if exp is None else "malformed_token"
    refused(code, f"Bearer {hs_token(claims(exp=exp))}", hs)


def test_huge_integer_times_do_not_crash(hs: RemoteAuthSettings) -> None:
    refused("token_too_long_lived", f"Bearer {hs_token(claims(exp=10**400))}", hs)


def test_oversize_token(hs: RemoteAuthSettings) -> None:
    token = hs_token(claims(padding="x" * 8192))
    refused("malformed_token", f"Bearer {token}", hs)


@pytest.mark.parametrize("sub", [42, None, ["lti-1"], {"id": 1}])
def test_non_string_sub(hs: RemoteAuthSettings, sub: Any) -> None:
    refused("bad_subject", f"Bearer {hs_token(claims(sub=sub))}", hs)


def test_secret_is_kept_out_of_repr(hs: RemoteAuthSettings) -> None:
    assert SECRET.decode() not in repr(hs)
    assert SECRET.decode() not in str(hs)


def config_error(**kwargs: Any) -> str:
    with pytest.raises(RemoteAuthConfigError) as info:
        RemoteAuthSettings(**{"audience": AUD, "issuer": ISS, **kwargs})
    assert isinstance(info.value, CoursehubError)
    return str(info.value)


def test_short_secret_says_how_to_make_a_good_one() -> None:
    message = config_error(secret=b"tooshortsecr")
    assert "12 bytes" in message
    assert "openssl rand -hex 32" in message
    assert "tooshortsecr" not in message


def test_both_secret_and_key(keys: Keys) -> None:
    assert "not both" in config_error(secret=SECRET, public_key=keys.public_pem)


def test_neither_secret_nor_key() -> None:
    assert "not neither" in config_error()


def test_pem_given_as_secret(keys: Keys) -> None:
    assert "public key" in config_error(secret=keys.public_pem.encode())


@pytest.mark.parametrize("pem", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n"])
def test_garbage_public_key(pem: str) -> None:
    assert "not a PEM public key" in config_error(public_key=pem)


def test_private_key_given_as_public_key(keys: Keys) -> None:
    pem = keys.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    assert "openssl rsa -in private.pem -pubout" in config_error(public_key=pem)


def test_non_rsa_public_key() -> None:
    pem = _public_pem(ec.generate_private_key(ec.SECP256R1()))
    assert "not an RSA key" in config_error(public_key=pem)


def test_small_rsa_key() -> None:
    pem = _public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    message = config_error(public_key=pem)
    assert "1024 bits" in message
    assert "2048" in message


@pytest.mark.parametrize("changes", [{"leeway_seconds": -1}, {"max_lifetime_seconds": 0}])
def test_bad_time_limits(changes: dict[str, int]) -> None:
    config_error(secret=SECRET, **changes)


def test_load_settings_reads_and_strips_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "grading.secret"
    path.write_bytes(SECRET + b"\n\n")
    settings = load_settings(AUD, ISS, secret_file=path, public_key_file=None)
    assert settings.secret == SECRET
    assert verify_bearer(f"Bearer {hs_token(claims())}", settings, now=NOW)


def test_load_settings_reads_the_public_key(tmp_path: Path, keys: Keys) -> None:
    path = tmp_path / "lms.pem"
    path.write_text(keys.public_pem)
    settings = load_settings(AUD, ISS, secret_file=None, public_key_file=path)
    token = jwt.encode(claims(), keys.private, algorithm="RS256")
    assert verify_bearer(f"Bearer {token}", settings, now=NOW)["iss"] == ISS


@pytest.mark.parametrize("which", ["secret_file", "public_key_file"])
def test_load_settings_missing_file_names_the_path(tmp_path: Path, which: str) -> None:
    path = tmp_path / "nowhere" / "key"
    files: dict[str, Path | None] = {"secret_file": None, "public_key_file": None, which: path}
    with pytest.raises(RemoteAuthConfigError, match="nowhere/key"):
        load_settings(AUD, ISS, **files)


def test_load_settings_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(RemoteAuthConfigError, match=str(tmp_path)):
        load_settings(AUD, ISS, secret_file=tmp_path, public_key_file=None)
