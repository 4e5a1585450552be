"""Roster parsing: both formats, every problem reported at once, passwords never shown."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from coursehub.accounts.roster import (
    RESERVED_NAMES,
    RosterEntry,
    parse_roster,
    read_roster_file,
    validate_username,
)
from coursehub.config.models import USERNAME_RE
from coursehub.core.errors import RosterError


def problems_of(text: str, **kwargs) -> dict[int, list[str]]:
    """Line number -> messages of the RosterError that parsing `text` must raise."""
    with pytest.raises(RosterError) as info:
        parse_roster(text, "roster.csv", **kwargs)
    found: dict[int, list[str]] = {}
    for problem in info.value.problems:
        assert problem.file == "roster.csv"
        found.setdefault(problem.line, []).append(problem.message)
    return found


def test_csv_with_all_columns():
    entries = parse_roster(
        "username,full_name,email,role,password\n"
        "alice,Alice Martin,alice@example.org,instructor,correct-horse\n"
        'bob,"Smith, Bob",,,\n'
    )
    assert entries == [
        RosterEntry("alice", "Alice Martin", "alice@example.org", "instructor", "correct-horse", 2),
        RosterEntry("bob", "Smith, Bob", "", "student", None, 3),
    ]


def test_csv_header_aliases_roles_case_and_spaces():
    entries = parse_roster(
        "\ufeffUsername, Full Name ,ROLE\n"  # BOM and capitals as Excel writes them
        "carol, Carol King , TA\n"
        "dave,Dave,Admin\n"
    )
    assert [(e.username, e.full_name, e.role, e.password) for e in entries] == [
        ("carol", "Carol King", "ta", None),
        ("dave", "Dave", "admin", None),
    ]
    assert parse_roster("name,username\nErin,erin\n")[0].full_name == "Erin"


def test_username_only_csv_defaults_to_students():
    entries = parse_roster("username\nalice\nbob\n")
    assert [(e.username, e.role, e.password) for e in entries] == [
        ("alice", "student", None),
        ("bob", "student", None),
    ]


def test_pipalhub_lines_skip_blanks_and_comments_and_keep_line_numbers():
    text = "# course 101\n\nalice:first-pass-1\n   \n# late joiner\nbob:pass:with:colons\n"
    entries = parse_roster(text)
    assert [(e.username, e.role, e.password, e.line) for e in entries] == [
        ("alice", "student", "first-pass-1", 3),
        ("bob", "student", "pass:with:colons", 6),
    ]


def test_comments_and_blank_lines_in_csv():
    entries = parse_roster(
        "# exported 2026-09-01\n\nusername,password\n# staff\n\nann,long-enough\n"
    )
    assert [(e.username, e.line) for e in entries] == [("ann", 6)]


def test_every_bad_line_is_reported_and_good_lines_are_not():
    text = (
        "username,full_name,email,role,password\n"
        "alice,Alice,alice@example.org,student,long-enough-1\n"  # 2 good
        "Bob,Bob,bob@example.org,student,long-enough-2\n"  # 3 capitals
        "carol,Carol,not-an-email,student,long-enough-3\n"  # 4 email
        "dave,Dave,dave@example.org,teacher,long-enough-4\n"  # 5 role
        "erin,Erin,erin@example.org,student,short\n"  # 6 password
        "frank,Frank,frank@example.org\n"  # 7 column count
        "grace,Grace,grace@example.org,ta,long-enough-7\n"  # 8 good
    )
    found = problems_of(text)
    assert sorted(found) == [3, 4, 5, 6, 7]
    assert "use 'bob'" in found[3][0]
    assert "name@example.org" in found[4][0]
    assert "admin, instructor, ta, student" in found[5][0]
    assert "shorter than 8 characters" in found[6][0]
    assert "expected 5" in found[7][0] and "found 3" in found[7][0]


def test_error_text_names_file_and_line_and_says_nothing_was_imported():
    with pytest.raises(RosterError) as info:
        parse_roster("alice:long-enough\nbob:tiny\n", "course.txt")
    text = str(info.value)
    assert "nothing was imported" in text
    assert "course.txt:2:" in text


def test_capital_letters_get_the_lower_case_hint():
    message = validate_username("Alice")
    assert message is not None
    assert "lower case" in message
    assert "use 'alice'" in message


def test_usernames_that_cannot_be_fixed_by_lower_casing():
    for bad in ["", "1alice", "al ice", "alice@uni", "a" * 32, "Al ice"]:
        message = validate_username(bad)
        assert message is not None, bad
        assert "use '" not in message  # no misleading lower-case suggestion
    assert validate_username("alice.b-c_1") is None


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_reserved_names(name: str):
    found = problems_of(f"{name}:long-enough\n")
    assert "reserved" in found[1][0]


def test_existing_system_accounts_are_reserved():
    system = [
        p.pw_name
        for p in pwd.getpwall()
        if p.pw_uid < 1000 and USERNAME_RE.match(p.pw_name) and p.pw_name not in RESERVED_NAMES
    ]
    if not system:
        pytest.skip("this machine has no system account (uid < 1000) with a valid username")
    assert "reserved" in (validate_username(system[0]) or "")


def test_duplicate_usernames_name_both_lines():
    found = problems_of("alice:long-enough\nbob:long-enough\nalice:other-password\n")
    assert list(found) == [3]
    assert "lines 1 and 3" in found[3][0]


def test_roles_are_strict():
    found = problems_of("username,role\nann,teacher\nben,assistant\ncid,Instructor\n")
    assert sorted(found) == [2, 3]
    assert all("admin, instructor, ta, student" in m[0] for m in found.values())


def test_unknown_column_is_named_with_the_allowed_ones_and_rows_still_checked():
    found = problems_of("username,phone\nalice,555\nBob,556\n")
    assert "'phone'" in found[1][0]
    assert "username, full_name, email, role, password" in found[1][0]
    assert "use 'bob'" in found[3][0]


def test_header_without_rows():
    found = problems_of("username,full_name,password\n\n# nobody yet\n")
    assert "no accounts" in found[1][0]


def test_empty_and_unrecognisable_rosters():
    assert "no accounts" in problems_of("# only a comment\n\n")[1][0]
    found = problems_of("alice bob carol\n")
    assert "username:password" in found[1][0]


def test_password_length_limits():
    found = problems_of("ann:123456\nbea:" + "é" * 40 + "\n", min_password_length=6)
    assert list(found) == [2]  # 6 characters is enough when configured so
    assert "72 bytes" in found[2][0]  # 40 characters but 80 bytes
    assert "shorter than 10" in problems_of("ann:123456789\n", min_password_length=10)[1][0]


def test_passwords_never_appear_in_errors_or_reprs():
    secrets = ["Sup3rSecretA", "Qz9", "Sup3rSecretB", "Sup3rSecretC", "Sup3rSecretD", "y" * 80]
    text = (
        "username,email,role,password\n"
        f"Alice,alice@example.org,student,{secrets[0]}\n"
        f"bob,bob@,student,{secrets[1]}\n"
        f"carol,carol@example.org,boss,{secrets[2]}\n"
        f"carol,carol@example.org,ta,{secrets[3]}\n"
        f"dave,{secrets[4]}\n"
        f"erin,erin@example.org,student,{secrets[5]}\n"
    )
    with pytest.raises(RosterError) as info:
        parse_roster(text)
    shown = str(info.value) + repr(info.value.problems)
    assert len(info.value.problems) >= 6
    for secret in secrets:
        assert secret not in shown
    # A CSV line mistaken for username:password must not be echoed either.
    with pytest.raises(RosterError) as info:
        parse_roster("alice,Alice,alice@example.org,student,pa:Sup3rSecretE\n")
    assert "Sup3rSecretE" not in str(info.value)
    assert "student,pa" not in str(info.value)
    entry = parse_roster("alice:Sup3rSecretF\n")[0]
    assert "Sup3rSecretF" not in repr(entry)
    assert "<hidden>" in repr(entry)


def test_read_roster_file(tmp_path: Path):
    path = tmp_path / "roster.csv"
    path.write_bytes("\ufeffusername,full_name\nzoe,Zoë Ménard\n".encode())
    [entry] = read_roster_file(path)
    assert (entry.username, entry.full_name, entry.line) == ("zoe", "Zoë Ménard", 2)


def test_missing_file_and_directory(tmp_path: Path):
    with pytest.raises(RosterError, match="not found"):
        read_roster_file(tmp_path / "nope.csv")
    with pytest.raises(RosterError, match="directory"):
        read_roster_file(tmp_path)


def test_non_utf8_lines_are_all_reported(tmp_path: Path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("username,full_name\nzoe,Zoë\nann,Ann\nleo,Léo\n".encode("latin-1"))
    with pytest.raises(RosterError) as info:
        read_roster_file(path)
    assert [p.line for p in info.value.problems] == [2, 4]
    assert "UTF-8" in str(info.value)


def test_utf16_file_is_refused(tmp_path: Path):
    path = tmp_path / "excel.txt"
    path.write_bytes("username\nzoe\n".encode("utf-16"))
    with pytest.raises(RosterError, match="UTF-8"):
        read_roster_file(path)


def test_courses_column_with_roles_and_its_mistakes():
    entry = parse_roster("username,courses\nann,algebra physics:ta;chem:instructor\n")[0]
    assert entry.course_roles == [
        ("algebra", "student"),
        ("physics", "ta"),
        ("chem", "instructor"),
    ]
    found = problems_of("username,courses\nbob,Algebra\ncy,algebra:boss\n")
    assert "use 'algebra'" in found[2][0]
    assert "unknown role" in found[3][0] and "algebra:ta" in found[3][0]
