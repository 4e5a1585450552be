"""LMS users as coursehub accounts: (platform, `sub`) maps to one readable username,
made on the first launch or roster sync and kept for good. The same `sub` from two
platforms is two people; a name already taken (by an account of any sign-in method, or
by a staff enrolment waiting for its account) gets a number."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from coursehub.accounts.roster import MAX_FULL_NAME, validate_email
from coursehub.config.models import USERNAME_RE
from coursehub.db.models import Account, AccountSignIn, Enrolment, LtiIdentity
from coursehub.db.session import Database
from coursehub.lti.platforms import Platform

MAX_SUBJECT = 255
# room for "-NNN" after the readable part
READABLE_CHARS = 26
FALLBACK = "lms-user"


@dataclass(frozen=True)
class LmsPerson:
    """What an LMS says about someone (an id_token or an NRPS member)."""

    subject: str
    name: str = ""
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    preferred_username: str = ""
    claims: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_claims(cls, claims: dict[str, Any], subject_key: str = "sub") -> LmsPerson:
        def text(key: str) -> str:
            value = claims.get(key)
            return value.strip() if isinstance(value, str) else ""

        return cls(
            subject=text(subject_key),
            name=text("name"),
            given_name=text("given_name"),
            family_name=text("family_name"),
            email=text("email"),
            preferred_username=text("preferred_username")
            or text("ext_user_username"),  # Moodle's NRPS field
            claims=claims,
        )

    @property
    def full_name(self) -> str:
        name = self.name or " ".join(p for p in (self.given_name, self.family_name) if p)
        return name[:MAX_FULL_NAME]


def readable_base(person: LmsPerson, claim: str) -> str:
    """A username-shaped stem from the configured claim (not yet made unique)."""
    if claim == "email":
        raw = person.email.split("@", 1)[0]
    elif claim == "preferred_username":
        raw = person.preferred_username
    elif claim == "name":
        raw = person.full_name.replace(" ", ".")
    elif claim == "given_name":
        raw = person.given_name
    elif claim == "sub":
        raw = person.subject
    else:
        value = person.claims.get(claim)
        raw = value if isinstance(value, str) else ""
    # "Zoë Müller" -> "zoe.muller": keep letters readable rather than dropping them
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9_.-]+", "-", ascii_text.lower()).strip("-._")
    stem = re.sub(r"^[^a-z]+", "", stem)[:READABLE_CHARS].rstrip("-._")
    return stem if stem and USERNAME_RE.match(stem) else FALLBACK


class IdentityError(Exception):
    """An LMS user that cannot be given an account (e.g. no `sub`)."""


class IdentityStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def username_for(self, platform: Platform, person: LmsPerson, claim: str) -> str:
        """The coursehub username of `person`, creating the account on first sight."""
        subject = person.subject
        if not subject or len(subject) > MAX_SUBJECT:
            raise IdentityError("the LMS did not say who the user is (no usable `sub`)")
        for _ in range(5):  # lost races with a concurrent launch of a namesake retry
            known = self.known(platform.id, subject)
            if known is not None:
                self._touch(platform.id, subject)
                return known
            try:
                return self._create(platform, person, claim)
            except IntegrityError:
                continue
        raise IdentityError("could not choose a username; try the launch again")

    def known(self, platform_id: int, subject: str) -> str | None:
        with self.db.session() as s:
            row = s.get(LtiIdentity, (platform_id, subject))
            return row.username if row else None

    def subject_of(self, platform_id: int, username: str) -> str | None:
        """The LMS's id of `username` on that platform (for grades), if known."""
        with self.db.session() as s:
            return s.scalars(
                select(LtiIdentity.subject).where(
                    LtiIdentity.platform_id == platform_id, LtiIdentity.username == username
                )
            ).first()

    def move(self, from_username: str, to_username: str) -> int:
        """Let the LMS users that open `from_username` open `to_username` instead (an
        admin's link of an LMS user to their existing account); how many moved."""
        try:
            with self.db.session() as s:
                rows = list(
                    s.scalars(select(LtiIdentity).where(LtiIdentity.username == from_username))
                )
                for row in rows:
                    row.username = to_username
                s.flush()
        except IntegrityError:
            raise IdentityError(
                f"{to_username!r} already has an LMS user on the same platform"
            ) from None
        return len(rows)

    def _touch(self, platform_id: int, subject: str) -> None:
        with self.db.session() as s:
            row = s.get(LtiIdentity, (platform_id, subject))
            if row is not None:
                row.last_launch_at = datetime.now(UTC)

    def _create(self, platform: Platform, person: LmsPerson, claim: str) -> str:
        base = readable_base(person, claim)
        email = person.email if validate_email(person.email) is None else ""
        with self.db.session() as s:
            taken = set(
                s.scalars(
                    select(Account.username).where(
                        (Account.username == base) | Account.username.like(f"{base}-%")
                    )
                )
            )
            # A course's staff enrolled by name before their account exists are someone
            # an admin chose (a GitHub user, an account still to be added): an LMS user
            # whose e-mail says that name never gets it, nor the course's staff role.
            taken.update(
                s.scalars(
                    select(Enrolment.username).where(
                        Enrolment.role.in_(("instructor", "ta")),
                        (Enrolment.username == base) | Enrolment.username.like(f"{base}-%"),
                    )
                )
            )
            username = base
            number = 2
            while username in taken:
                username = f"{base}-{number}"
                number += 1
            # Both rows in one transaction: an identity never points at no account.
            s.add(
                Account(username=username, full_name=person.full_name, email=email, role="student")
            )
            s.add(LtiIdentity(platform_id=platform.id, subject=person.subject, username=username))
            # opened by LMS launches only (accounts.signins)
            s.add(AccountSignIn(username=username, method="lti"))
            s.flush()
        return username
