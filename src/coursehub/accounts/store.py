"""Accounts in the coursehub database: roster import, changes, and sign-in checks.

Methods return ``AccountInfo``: a frozen snapshot that stays usable after the
session closed and holds no password hash, so it is safe to log or render.
bcrypt work always happens outside database transactions, so a login storm or a
large import never holds a connection (or SQLite's write lock) while hashing.
"""

from __future__ import annotations

import builtins
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from coursehub.accounts.passwords import hash_password, verify_password
from coursehub.accounts.roster import (
    RosterEntry,
    check_entries,
    normalize_role,
    validate_email,
    validate_full_name,
    validate_password,
    validate_role,
    validate_username,
)
from coursehub.core.errors import AccountError, RosterError
from coursehub.db.models import Account, AccountSignIn
from coursehub.db.session import Database

T = TypeVar("T")


@dataclass(frozen=True)
class AccountInfo:
    username: str
    full_name: str
    email: str
    role: str
    has_password: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Account) -> AccountInfo:
        return cls(
            username=row.username,
            full_name=row.full_name,
            email=row.email,
            role=row.role,
            has_password=row.password_hash is not None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class ImportResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class _Stale(Exception):
    """Passwords changed between hashing and writing; hash again."""


def _fail(errors: list[str | None]) -> None:
    messages = [m for m in errors if m]
    if messages:
        raise AccountError("; ".join(messages))


class AccountStore:
    """Accounts of one coursehub database (safe to share between threads)."""

    def __init__(self, db: Database, *, min_password_length: int = 8):
        self.db = db
        self.min_password_length = min_password_length

    def import_entries(self, entries: builtins.list[RosterEntry]) -> ImportResult:
        """Add or update every entry in one transaction: all of them or none.

        The roster is authoritative for full name, e-mail and role; passwords are
        replaced only by entries that carry one. Password length rules are the
        parser's (it knows the configured minimum); names, roles and sizes are
        checked again here so nothing invalid reaches the database.
        """
        problems = check_entries(entries, "<import>", min_password_length=1)
        if problems:
            raise RosterError(problems)
        if not entries:
            return ImportResult()
        for _attempt in range(3):
            seen = self._password_hashes([e.username for e in entries])
            new_hashes = self._hash_changed_passwords(entries, seen)
            try:
                return self._apply(entries, seen, new_hashes)
            except _Stale:
                continue
        raise AccountError("accounts kept changing during the roster import; run it again")

    def _password_hashes(self, names: builtins.list[str]) -> dict[str, str | None]:
        with self.db.session() as s:
            rows = s.execute(
                select(Account.username, Account.password_hash).where(Account.username.in_(names))
            )
            return {name: hashed for name, hashed in rows}

    @staticmethod
    def _hash_changed_passwords(
        entries: builtins.list[RosterEntry], seen: dict[str, str | None]
    ) -> dict[str, str]:
        """New hashes for entries whose password differs from the stored one."""

        def work(item: tuple[str, str]) -> tuple[str, str | None]:
            name, password = item
            old = seen.get(name)
            if old is not None and verify_password(password, old):
                return name, None  # same password: keep the hash, report unchanged
            return name, hash_password(password)

        todo = [(e.username, e.password) for e in entries if e.password is not None]
        if not todo:
            return {}
        # bcrypt releases the GIL: one thread per core divides an import's wait.
        with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1)) as pool:
            return {name: hashed for name, hashed in pool.map(work, todo) if hashed}

    def _apply(
        self,
        entries: builtins.list[RosterEntry],
        seen: dict[str, str | None],
        new_hashes: dict[str, str],
    ) -> ImportResult:
        result = ImportResult()
        names = [e.username for e in entries]
        try:
            with self.db.session() as s:
                query = select(Account).where(Account.username.in_(names)).with_for_update()
                rows = {a.username: a for a in s.scalars(query)}
                if {name: a.password_hash for name, a in rows.items()} != seen:
                    raise _Stale
                _refuse_other_methods(s, list(rows))
                for entry in entries:
                    row = rows.get(entry.username)
                    if row is None:
                        s.add(
                            Account(
                                username=entry.username,
                                full_name=entry.full_name,
                                email=entry.email,
                                role=entry.role,
                                password_hash=new_hashes.get(entry.username),
                            )
                        )
                        s.add(AccountSignIn(username=entry.username, method="local"))
                        result.added.append(entry.username)
                    elif _update(row, entry, new_hashes.get(entry.username)):
                        result.updated.append(entry.username)
                    else:
                        result.unchanged.append(entry.username)
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise AccountError(
                f"the database refused the roster import, so nothing was imported: {detail}"
            ) from exc
        return result

    def add(
        self,
        username: str,
        *,
        full_name: str = "",
        email: str = "",
        role: str = "student",
        password: str | None = None,
        signin: str = "local",
    ) -> AccountInfo:
        """Create an account opened by the sign-in method `signin` (see
        accounts.signins); AccountError if it exists or a value is invalid."""
        role = normalize_role(role)
        _fail(
            [
                validate_username(username),
                validate_full_name(full_name),
                validate_email(email),
                validate_role(role),
                None if password is None else self._password_problem(password),
            ]
        )
        if self.get(username) is not None:  # fail before spending time on bcrypt
            raise AccountError(_exists(username))
        hashed = None if password is None else hash_password(password)
        row = Account(
            username=username, full_name=full_name, email=email, role=role, password_hash=hashed
        )
        try:
            with self.db.session() as s:
                s.add(row)
                s.add(AccountSignIn(username=username, method=signin))
                s.flush()
                return AccountInfo.of(row)
        except IntegrityError as exc:  # created by someone else meanwhile
            raise AccountError(_exists(username)) from exc

    def remove(self, username: str) -> None:
        with self.db.session() as s:
            s.delete(_existing(s.get(Account, username), username))

    def get(self, username: str) -> AccountInfo | None:
        with self.db.session() as s:
            row = s.get(Account, username)
            return None if row is None else AccountInfo.of(row)

    def set_password(self, username: str, password: str) -> None:
        _fail([self._password_problem(password)])
        _existing(self.get(username), username)  # fail before spending time on bcrypt
        hashed = hash_password(password)
        with self.db.session() as s:
            _existing(s.get(Account, username), username).password_hash = hashed

    def set_role(self, username: str, role: str) -> None:
        role = normalize_role(role)
        _fail([validate_role(role)])
        with self.db.session() as s:
            _existing(s.get(Account, username), username).role = role

    def authenticate(self, username: str, password: str) -> AccountInfo | None:
        """The account if the password is right and passwords open it (accounts of
        other sign-in methods never do). Unknown users and accounts without a password
        cost one bcrypt check too, so timing does not reveal who exists."""
        with self.db.session() as s:
            row = s.get(Account, username)
            if row is not None and s.get(AccountSignIn, (username, "local")) is None:
                row = None
            info = None if row is None else AccountInfo.of(row)
            hashed = None if row is None else row.password_hash
        # Checked after the session closed: no connection is held during bcrypt.
        return info if verify_password(password, hashed) and info is not None else None

    def _password_problem(self, password: str) -> str | None:
        return validate_password(password, self.min_password_length)

    # Last, so that `list` in the annotations above still means the builtin.
    def list(self, role: str | None = None) -> builtins.list[AccountInfo]:
        """Accounts sorted by username, optionally only those with `role`."""
        query = select(Account).order_by(Account.username)
        if role is not None:
            role = normalize_role(role)
            _fail([validate_role(role)])
            query = query.where(Account.role == role)
        with self.db.session() as s:
            return [AccountInfo.of(row) for row in s.scalars(query)]


def _refuse_other_methods(s: Any, names: builtins.list[str]) -> None:
    """A roster line names a local account: never change one that signs in another way
    (a GitHub or LMS user who took the name first)."""
    if not names:
        return
    local = set(
        s.scalars(
            select(AccountSignIn.username).where(
                AccountSignIn.username.in_(names), AccountSignIn.method == "local"
            )
        )
    )
    others = sorted(set(names) - local)
    if others:
        raise AccountError(
            "the roster names accounts that do not sign in with a password: "
            + ", ".join(others)
            + ". If they are the same people, link them first (coursehub users link NAME "
            "local); otherwise give the roster lines other usernames. Nothing was imported."
        )


def _update(row: Account, entry: RosterEntry, new_hash: str | None) -> bool:
    changed = False
    for attr in ("full_name", "email", "role"):
        if getattr(row, attr) != getattr(entry, attr):
            setattr(row, attr, getattr(entry, attr))
            changed = True
    if new_hash is not None:
        row.password_hash = new_hash
        changed = True
    return changed


def _exists(username: str) -> str:
    return f"an account named {username!r} already exists; change that account instead"


def _existing(row: T | None, username: str) -> T:
    if row is None:
        raise AccountError(f"no account named {username!r}")
    return row
