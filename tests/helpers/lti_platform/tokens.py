"""Names from the LTI 1.3, AGS 2.0, NRPS 2.0 and Deep Linking 2.0 specs, and JWT
signing that can also make the hostile tokens a platform never would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"

AGS_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPE_LINEITEM = AGS_SCOPE + "lineitem"
SCOPE_LINEITEM_READ = AGS_SCOPE + "lineitem.readonly"
SCOPE_RESULT_READ = AGS_SCOPE + "result.readonly"
SCOPE_SCORE = AGS_SCOPE + "score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ALL_SCOPES = frozenset(
    {SCOPE_LINEITEM, SCOPE_LINEITEM_READ, SCOPE_RESULT_READ, SCOPE_SCORE, SCOPE_NRPS}
)

LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
RESULTS_TYPE = "application/vnd.ims.lis.v2.resultcontainer+json"
MEMBERSHIPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    data = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid, "alg": "RS256", "use": "sig"}


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode(
    claims: dict[str, Any],
    key: rsa.RSAPrivateKey,
    *,
    alg: str,
    headers: dict[str, Any],
    secret: bytes | str | None = None,
) -> str:
    """A compact JWS. `none` and HS256 are built by hand: PyJWT rightly refuses to use
    a public key as an HMAC secret, which is exactly the attack a test needs to make.
    HS256 without `secret` is signed with `key`'s public PEM."""
    if alg == "RS256":
        return jwt.encode(claims, key, algorithm="RS256", headers=headers)
    header = {"typ": "JWT", **headers, "alg": alg}
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    if alg == "none":
        return signing_input + "."
    if alg == "HS256":
        raw = public_pem(key) if secret is None else secret
        raw = raw.encode() if isinstance(raw, str) else raw
        mac = hmac.new(raw, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64(mac)
    raise ValueError(f"unsupported alg {alg!r}: use RS256, HS256 or none")


def verify_with_jwks(
    token: str, key_set: dict[str, Any], *, audience: str, issuer: str
) -> dict[str, Any]:
    """Claims of an RS256 token signed by the key of its `kid` in `key_set`; raises
    jwt.PyJWTError (including for any other algorithm, or an unknown kid)."""
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "RS256":
        raise jwt.InvalidAlgorithmError(f"alg {header.get('alg')!r} is not RS256")
    matches = [k for k in key_set.get("keys", []) if k.get("kid") == header.get("kid")]
    if not matches:
        raise jwt.InvalidKeyError(f"no key with kid {header.get('kid')!r} in the tool's JWKS")
    public = RSAAlgorithm.from_jwk(matches[0])
    return jwt.decode(
        token,
        public,  # type: ignore[arg-type]
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud"]},
    )
