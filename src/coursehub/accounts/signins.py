"""One person, one account: which sign-in methods open which account.

Every sign-in method names people in its own way (a roster, GitHub logins, an LMS's
e-mail addresses, an LMS plugin's links), and all of them end in one username. So an
account is opened only by the methods recorded for it: the one that made it, and any
an admin linked (`coursehub users link`). A name that another method's account holds
is refused, never merged. Where the method has a stable id for the person (GitHub's
numeric user id), the first sign-in pins it: whoever later takes a login someone gave
up does not inherit their account, and a renamed login keeps its account.

Roles granted by username (coursehub.yaml's `roles:`) are keyed the same way:
`local:prof`, `github:octo`; a bare name means `local`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coursehub.accounts.store import AccountInfo
from coursehub.core.errors import AccountError
from coursehub.db.models import Account, AccountSignIn
from coursehub.db.session import Database

METHODS = ("local", "github", "lti", "jwt")
METHOD_NAMES = {"local": "a password", "github": "GitHub", "lti": "the LMS", "jwt": "LMS links"}
ROLE_STRENGTH = {"student": 0, "ta": 1, "instructor": 2, "admin": 3}


class IdentityConflict(AccountError):
    """A sign-in names an account that its method does not open."""

    def __init__(self, username: str, method: str, detail: str) -> None:
        self.username, self.method = username, method
        super().__init__(detail)

    @property
    def page_message(self) -> str:
        return (
            f"The account {self.username!r} belongs to someone who signs in with another "
            f"sign-in method, so signing in with {METHOD_NAMES[self.method]} cannot open "
            f"it. If it is yours, ask an admin to link it (coursehub users link "
            f"{self.username} {self.method})."
        )


@dataclass(frozen=True)
class Claimed:
    account: AccountInfo
    methods: tuple[str, ...]
    created: bool = False


def check_method(method: str) -> str:
    if method not in METHODS:
        raise AccountError(f"unknown sign-in method {method!r}: use one of {', '.join(METHODS)}")
    return method


def qualified(name: str) -> tuple[str, str]:
    """(method, username) of a role entry: `github:octo`, or a bare name for local."""
    method, sep, username = name.partition(":")
    return (method, username) if sep else ("local", name)


def role_override(overrides: dict[str, str], username: str, methods: tuple[str, ...]) -> str | None:
    """The strongest role `overrides` (keyed method:username) grant through the methods
    that open the account; None when none applies."""
    found = [overrides[f"{m}:{username}"] for m in methods if f"{m}:{username}" in overrides]
    return max(found, key=ROLE_STRENGTH.__getitem__) if found else None


class AccountSignIns:
    """The methods of each account in one coursehub database (thread-safe)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def methods_of(self, username: str) -> tuple[str, ...]:
        with self.db.session() as s:
            return _methods(s, username)

    def account_with_methods(self, username: str) -> tuple[AccountInfo, tuple[str, ...]] | None:
        """The account and the methods that open it, in one session (None: no account)."""
        with self.db.session() as s:
            row = s.get(Account, username)
            return None if row is None else (AccountInfo.of(row), _methods(s, username))

    def claim(
        self,
        username: str,
        method: str,
        *,
        subject: str | None = None,
        create: bool = False,
    ) -> Claimed | None:
        """The account a sign-in through `method` opens.

        `subject`: the method's stable id of the person, if it has one; it wins over
        `username` (a renamed login keeps its account). Without an account of that
        name: None, or a new student account opened by `method` when `create`.
        IdentityConflict when the name belongs to another method's account, or to
        another person of this method (a different subject)."""
        check_method(method)
        for _ in range(3):  # a concurrent first sign-in of the same name: look again
            try:
                with self.db.session() as s:
                    return self._claim(s, username, method, subject, create)
            except IntegrityError:
                continue
        raise AccountError(f"could not record the sign-in of {username!r}; try again")

    def _claim(
        self, s: Session, username: str, method: str, subject: str | None, create: bool
    ) -> Claimed | None:
        if subject is not None:
            pinned = s.scalars(
                select(AccountSignIn).where(
                    AccountSignIn.method == method, AccountSignIn.subject == subject
                )
            ).first()
            if pinned is not None:
                row = s.get(Account, pinned.username)
                assert row is not None  # the foreign key cascades
                return Claimed(AccountInfo.of(row), _methods(s, row.username))
        row = s.get(Account, username)
        if row is None:
            if not create:
                return None
            row = Account(username=username, role="student")
            s.add(row)
            s.add(AccountSignIn(username=username, method=method, subject=subject))
            s.flush()
            return Claimed(AccountInfo.of(row), (method,), created=True)
        link = s.get(AccountSignIn, (username, method))
        if link is None:
            raise IdentityConflict(
                username,
                method,
                f"{username!r} is an account of {', '.join(_methods(s, username)) or 'no'} "
                f"sign-in; {method} may not open it unless an admin links it",
            )
        if subject is not None:
            if link.subject is None:
                link.subject = subject  # first sign-in since an admin linked it
                s.flush()
            elif link.subject != subject:
                raise IdentityConflict(
                    username,
                    method,
                    f"{username!r} was made by another {method} user (id {link.subject}, "
                    f"not {subject}); the login changed hands",
                )
        return Claimed(AccountInfo.of(row), _methods(s, username))

    def link(self, username: str, method: str) -> tuple[str, ...]:
        """Let `method` open the account `username` too (an admin's decision that both
        are the same person); its methods afterwards."""
        check_method(method)
        with self.db.session() as s:
            if s.get(Account, username) is None:
                raise AccountError(f"no account named {username!r}")
            if s.get(AccountSignIn, (username, method)) is None:
                s.add(
                    AccountSignIn(
                        username=username,
                        method=method,
                        linked_by_admin=True,
                        created_at=datetime.now(UTC),
                    )
                )
                s.flush()
            return _methods(s, username)

    def unlink(self, username: str, method: str) -> tuple[str, ...]:
        """Stop `method` opening the account; its methods afterwards."""
        check_method(method)
        with self.db.session() as s:
            link = s.get(AccountSignIn, (username, method))
            if link is None:
                raise AccountError(f"{username!r} does not sign in with {method}")
            s.delete(link)
            s.flush()
            return _methods(s, username)

    def all_methods(self) -> dict[str, tuple[str, ...]]:
        """username -> methods, for listings."""
        found: dict[str, list[str]] = {}
        with self.db.session() as s:
            for username, method in s.execute(select(AccountSignIn.username, AccountSignIn.method)):
                found.setdefault(username, []).append(method)
        return {name: _ordered(methods) for name, methods in found.items()}


def _methods(s: Session, username: str) -> tuple[str, ...]:
    rows = s.scalars(select(AccountSignIn.method).where(AccountSignIn.username == username))
    return _ordered(list(rows))


def _ordered(methods: list[str]) -> tuple[str, ...]:
    return tuple(m for m in METHODS if m in methods)
