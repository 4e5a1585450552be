"""The tool's own RSA key pair: made on first use, kept in a 0600 file, and published
as a JSON Web Key Set so platforms can check what coursehub signs (client-credentials
assertions for grades and rosters, deep-linking responses)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from coursehub.config.secrets import check_private, ensure_private_dir
from coursehub.core.errors import SetupError

KEY_BITS = 3072
MIN_KEY_BITS = 2048


@dataclass(frozen=True)
class ToolKey:
    kid: str
    private_pem: bytes = field(repr=False)  # kept out of logs and reprs
    public: rsa.RSAPublicKey = field(repr=False)

    def jwk(self) -> dict[str, Any]:
        """The public half as a JWK for signing with RS256."""
        data = json.loads(RSAAlgorithm.to_jwk(self.public))
        return {**data, "kid": self.kid, "alg": "RS256", "use": "sig"}


def jwks(*keys: ToolKey) -> dict[str, Any]:
    return {"keys": [key.jwk() for key in keys]}


def ensure_tool_key(path: Path) -> ToolKey:
    """The key pair at `path`, made there (mode 600) if missing."""
    if not path.exists():
        ensure_private_dir(path.parent)
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # written aside, then linked into place: nobody ever reads a half-written key,
        # and of two first runs racing, the first link wins and both use its key
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".lti-key-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return read_tool_key(path)


def read_tool_key(path: Path) -> ToolKey:
    check_private(path)
    pem = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise SetupError(
            f"{path} is not an unencrypted PEM private key; delete it and coursehub "
            "will make a new key pair (platforms then need the new JWKS)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_KEY_BITS:
        raise SetupError(
            f"{path} must hold an RSA key of at least {MIN_KEY_BITS} bits; delete it and "
            "coursehub will make a new one"
        )
    public = key.public_key()
    return ToolKey(kid=thumbprint(public), private_pem=pem, public=public)


def thumbprint(public: rsa.RSAPublicKey) -> str:
    """RFC 7638 thumbprint: a key id that changes exactly when the key does."""
    jwk = json.loads(RSAAlgorithm.to_jwk(public))
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
