"""bcrypt password hashes for local accounts."""

from __future__ import annotations

import bcrypt

# Cost 12 takes ~0.3 s per hash; 300 students signing in at once on 2 cores would
# queue for a minute. Cost 10 (~70 ms) keeps a login storm short and is still slow
# enough for offline guessing to be expensive.
ROUNDS = 10

# bcrypt only looks at the first 72 bytes; bcrypt 5 refuses longer input.
MAX_PASSWORD_BYTES = 72

# A real cost-10 hash of a throwaway string: checked when an account has no hash
# (unknown username, GitHub/LMS account), so such sign-ins take as long as real ones.
_DUMMY_HASH = b"$2b$10$lTaJjj7Jtu6UHd.U9AJzhe2.rlSbvnQK/nSd0b7Cc.4boxiINS6tO"


def hash_password(password: str) -> str:
    """A salted bcrypt hash; ValueError (without the password) if too long for bcrypt."""
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ValueError(
            f"password is longer than {MAX_PASSWORD_BYTES} bytes (bcrypt's limit); "
            "choose a shorter one"
        )
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds=ROUNDS)).decode("ascii")


def verify_password(password: str, hashed: str | None) -> bool:
    """True if `password` matches `hashed`. Never raises; missing or malformed hashes
    and over-long passwords cost one bcrypt check like any other failure."""
    raw = password.encode("utf-8", "replace")
    usable = len(raw) <= MAX_PASSWORD_BYTES
    if hashed is not None and usable:
        try:
            return bcrypt.checkpw(raw, hashed.encode("ascii"))
        except (ValueError, TypeError):
            pass  # malformed hash: fall through to the dummy check
    bcrypt.checkpw(raw[:MAX_PASSWORD_BYTES], _DUMMY_HASH)
    return False
