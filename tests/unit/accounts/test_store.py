"""AccountStore against real databases: SQLite always, PostgreSQL when reachable."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest
from sqlalchemy import event, text

from coursehub.accounts import passwords
from coursehub.accounts.passwords import hash_password, verify_password
from coursehub.accounts.roster import RosterEntry, parse_roster, read_roster_file
from coursehub.accounts.store import AccountStore
from coursehub.core.errors import AccountError, RosterError
from coursehub.db.session import Database

ROSTER = (
    "username,full_name,email,role,password\n"
    "alice,Alice Martin,alice@example.org,instructor,alice-pass-1\n"
    "bob,Bob Stone,,student,bob-pass-01\n"
    "carol,Carol King,carol@example.org,ta,\n"
)


@pytest.fixture
def store(any_db: Database) -> AccountStore:
    return AccountStore(any_db)


def stored_hashes(any_db: Database) -> dict[str, str | None]:
    with any_db.engine.connect() as conn:
        rows = conn.execute(text("SELECT username, password_hash FROM coursehub_accounts"))
        return dict(rows.all())


def refuse_inserts_of(any_db: Database, username: str) -> None:
    """A real database-side failure: a trigger that aborts inserting `username`."""
    with any_db.engine.begin() as conn:
        if any_db.engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON coursehub_accounts "
                    f"WHEN NEW.username = '{username}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.username = '{username}' THEN "
                    "RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON coursehub_accounts "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )


# --- roster import ---------------------------------------------------------------


def test_import_adds_accounts_with_hashed_passwords(store: AccountStore, any_db: Database):
    result = store.import_entries(parse_roster(ROSTER))
    assert result.added == ["alice", "bob", "carol"]
    assert result.updated == result.unchanged == []

    alice = store.get("alice")
    assert alice is not None
    assert (alice.full_name, alice.email, alice.role, alice.has_password) == (
        "Alice Martin",
        "alice@example.org",
        "instructor",
        True,
    )
    hashes = stored_hashes(any_db)
    assert hashes["carol"] is None
    for name, plain in [("alice", "alice-pass-1"), ("bob", "bob-pass-01")]:
        assert plain not in hashes[name]
        assert hashes[name].startswith("$2b$10$")
        assert bcrypt.checkpw(plain.encode(), hashes[name].encode())


def test_import_of_username_password_lines(store: AccountStore):
    store.import_entries(parse_roster("dan:dan-pass-01\neve:eve-pass-01\n"))
    assert [(a.username, a.role) for a in store.list()] == [("dan", "student"), ("eve", "student")]
    assert store.authenticate("eve", "eve-pass-01") is not None


def test_reimport_updates_without_duplicating(store: AccountStore, any_db: Database):
    store.import_entries(parse_roster(ROSTER))
    before = stored_hashes(any_db)

    again = store.import_entries(parse_roster(ROSTER))
    assert again.unchanged == ["alice", "bob", "carol"]
    assert again.added == again.updated == []
    assert stored_hashes(any_db) == before  # same password: hash left alone

    changed = store.import_entries(
        parse_roster(
            "username,full_name,email,role,password\n"
            "alice,Alice Martin,alice@example.org,admin,\n"  # role changes, password kept
            "bob,Bob Stone,,student,bob-new-pass\n"  # new password
            "carol,Carol King,carol@example.org,ta,\n"
            "dave,Dave,,student,dave-pass-01\n"
        )
    )
    assert (changed.added, changed.updated, changed.unchanged) == (
        ["dave"],
        ["alice", "bob"],
        ["carol"],
    )
    assert [a.username for a in store.list()] == ["alice", "bob", "carol", "dave"]
    alice = store.get("alice")
    assert alice is not None and alice.role == "admin"
    assert store.authenticate("alice", "alice-pass-1") is not None
    assert store.authenticate("bob", "bob-pass-01") is None
    assert store.authenticate("bob", "bob-new-pass") is not None


def test_bad_roster_file_imports_nothing(store: AccountStore, tmp_path: Path):
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER + "Eve,Eve,,student,eve-pass-01\nfrank,,,chef,frank-pass-1\n")
    with pytest.raises(RosterError) as info:
        store.import_entries(read_roster_file(path))
    assert [p.line for p in info.value.problems] == [5, 6]
    assert store.list() == []


def test_invalid_entries_given_directly_import_nothing(store: AccountStore):
    entries = [
        RosterEntry("alice", password="alice-pass-1", line=1),
        RosterEntry("Bob", line=2),
        RosterEntry("alice", line=3),
    ]
    with pytest.raises(RosterError) as info:
        store.import_entries(entries)
    assert [p.line for p in info.value.problems] == [2, 3]
    assert store.list() == []


def test_import_is_atomic_when_the_database_fails_midway(store: AccountStore, any_db: Database):
    store.add("alice", role="student", password="alice-pass-1")
    refuse_inserts_of(any_db, "mallory")
    written: list[str] = []

    @event.listens_for(any_db.engine, "after_cursor_execute")
    def record(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            written.append(statement.split()[0].upper())

    entries = [
        RosterEntry("alice", role="admin", password="alice-pass-2", line=1),
        RosterEntry("bob", password="bob-pass-01", line=2),
        RosterEntry("mallory", password="mallory-pass", line=3),
        RosterEntry("zed", password="zed-pass-001", line=4),
    ]
    with pytest.raises(AccountError, match="nothing was imported") as info:
        store.import_entries(entries)
    event.remove(any_db.engine, "after_cursor_execute", record)

    assert "refused by test trigger" in str(info.value)
    assert "UPDATE" in written  # alice's change really reached the database first...
    assert [a.username for a in store.list()] == ["alice"]  # ...and was rolled back
    alice = store.get("alice")
    assert alice is not None and alice.role == "student"
    assert store.authenticate("alice", "alice-pass-1") is not None
    assert store.authenticate("alice", "alice-pass-2") is None


def test_import_retries_when_a_password_changes_meanwhile(
    store: AccountStore, monkeypatch: pytest.MonkeyPatch
):
    store.add("alice", password="alice-pass-1")
    real = AccountStore._hash_changed_passwords
    calls = []

    def racing(entries, seen):  # noqa: ANN001
        if not calls:  # someone resets alice's password while the roster is being hashed
            store.set_password("alice", "changed-by-cli")
        calls.append(1)
        return real(entries, seen)

    monkeypatch.setattr(AccountStore, "_hash_changed_passwords", staticmethod(racing))
    result = store.import_entries([RosterEntry("alice", password="alice-pass-1", line=1)])
    assert len(calls) == 2
    assert result.updated == ["alice"]  # the roster wins, judged against the newest hash
    assert store.authenticate("alice", "alice-pass-1") is not None
    assert store.authenticate("alice", "changed-by-cli") is None


# --- single-account operations ---------------------------------------------------


def test_add_get_list_remove(store: AccountStore):
    added = store.add("zoe", full_name="Zoë", email="zoe@example.org", role="TA", password=None)
    store.add("amir", password="amir-pass-01")
    store.add("li", role="instructor")
    assert (added.username, added.role, added.has_password) == ("zoe", "ta", False)
    assert not hasattr(added, "password_hash")
    assert [a.username for a in store.list()] == ["amir", "li", "zoe"]
    assert [a.username for a in store.list(role="student")] == ["amir"]
    assert [a.username for a in store.list(role="Instructor")] == ["li"]

    store.remove("li")
    assert store.get("li") is None
    with pytest.raises(AccountError, match="no account named 'li'"):
        store.remove("li")


def test_add_refuses_duplicates_and_invalid_values(store: AccountStore):
    store.add("alice")
    with pytest.raises(AccountError, match="already exists"):
        store.add("alice", password="alice-pass-1")
    with pytest.raises(AccountError, match="use 'bob'"):
        store.add("Bob")
    with pytest.raises(AccountError, match="reserved"):
        store.add("root")
    with pytest.raises(AccountError, match="admin, instructor, ta, student"):
        store.add("carol", role="teacher")
    with pytest.raises(AccountError, match="does not look like an address"):
        store.add("carol", email="carol")
    with pytest.raises(AccountError) as info:
        store.add("carol", password="Tiny7")
    assert "shorter than 8" in str(info.value) and "Tiny7" not in str(info.value)
    with pytest.raises(AccountError, match="admin, instructor, ta, student"):
        store.list(role="boss")
    assert [a.username for a in store.list()] == ["alice"]


def test_set_password_and_role(store: AccountStore):
    store.add("alice", password="alice-pass-1")
    store.set_password("alice", "alice-pass-2")
    assert store.authenticate("alice", "alice-pass-1") is None
    assert store.authenticate("alice", "alice-pass-2") is not None
    store.set_role("alice", "Instructor")
    alice = store.get("alice")
    assert alice is not None and alice.role == "instructor"

    with pytest.raises(AccountError, match="no account named 'ghost'"):
        store.set_password("ghost", "ghost-pass-1")
    with pytest.raises(AccountError, match="no account named 'ghost'"):
        store.set_role("ghost", "ta")
    with pytest.raises(AccountError, match="72 bytes"):
        store.set_password("alice", "é" * 40)
    with pytest.raises(AccountError, match="admin, instructor, ta, student"):
        store.set_role("alice", "owner")


def test_min_password_length_is_configurable(any_db: Database):
    store = AccountStore(any_db, min_password_length=12)
    with pytest.raises(AccountError, match="shorter than 12"):
        store.add("alice", password="eleven-char")
    assert store.add("alice", password="twelve-chars").has_password


# --- sign-in ---------------------------------------------------------------------


def test_authenticate(store: AccountStore):
    store.import_entries(parse_roster(ROSTER))
    alice = store.authenticate("alice", "alice-pass-1")
    assert alice is not None and (alice.username, alice.role) == ("alice", "instructor")
    assert store.authenticate("alice", "alice-pass-2") is None
    assert store.authenticate("alice", "") is None
    assert store.authenticate("Alice", "alice-pass-1") is None  # names are exact
    assert store.authenticate("nobody-here", "alice-pass-1") is None
    assert store.authenticate("carol", "anything-at-all") is None  # account has no password
    assert store.authenticate("alice", "x" * 1000) is None


def test_unknown_users_cost_a_bcrypt_check_too(
    store: AccountStore, monkeypatch: pytest.MonkeyPatch
):
    store.add("alice", password="alice-pass-1")
    checks: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counting)
    assert store.authenticate("alice", "wrong-password") is None
    assert store.authenticate("ghost", "wrong-password") is None
    assert store.authenticate("alice", "y" * 100) is None  # too long for bcrypt
    assert len(checks) == 3
    assert all(h.startswith(b"$2b$10$") for h in checks)  # same cost every time


def test_password_helpers_never_raise_on_bad_input():
    hashed = hash_password("correct-horse")
    assert hashed.startswith("$2b$10$") and "correct-horse" not in hashed
    assert verify_password("correct-horse", hashed)
    assert not verify_password("wrong-horse", hashed)
    for bad in [None, "", "not-a-hash", "$2b$10$short", "$2b$99$" + "a" * 53]:
        assert not verify_password("correct-horse", bad)
    assert not verify_password("é" * 80, hashed)
    with pytest.raises(ValueError, match="72 bytes") as info:
        hash_password("Z" * 73)
    assert "ZZZZ" not in str(info.value)
