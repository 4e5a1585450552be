"""Rosters: a CSV with a header row, or PipalHub-style ``username:password`` lines.

Every line is checked before anything is returned; all problems are reported at once
in a RosterError so a roster is applied completely or not at all. Passwords never
appear in messages or reprs.
"""

from __future__ import annotations

import csv
import pwd
import re
from dataclasses import dataclass
from pathlib import Path

from coursehub.accounts.passwords import MAX_PASSWORD_BYTES
from coursehub.config.models import ROLE_NAMES, USERNAME_RE
from coursehub.core.errors import RosterError, RosterProblem

# Names that would confuse people or collide with the machine's own accounts.
RESERVED_NAMES = frozenset({"root", "admin", "coursehub", "jupyterhub", "nobody", "daemon"})
SYSTEM_UID_LIMIT = 1000
# Column sizes of db.models.Account: PostgreSQL refuses longer values mid-import.
MAX_FULL_NAME = 200
MAX_EMAIL = 254
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")  # shape only; mail servers decide the rest
COLUMNS = ("username", "full_name", "email", "role", "password", "courses")
COURSE_ROLES = ("instructor", "ta", "student")
_COURSE_SEP = re.compile(r"[\s;]+")
_ALIASES = {"name": "full_name", "fullname": "full_name"}
_ALLOWED = ", ".join(COLUMNS)
_FORMATS_HINT = (
    "start with a CSV header row naming at least 'username' "
    "(e.g. username,full_name,email,role,password), or write username:password lines"
)


@dataclass(frozen=True, repr=False)
class RosterEntry:
    """One account from a roster. ``password`` None: keep the current one (if any)."""

    username: str
    full_name: str = ""
    email: str = ""
    role: str = "student"
    password: str | None = None
    line: int = 0
    # "algebra physics:ta": courses to enrol in, each with an optional role (student)
    courses: str = ""

    @property
    def course_roles(self) -> list[tuple[str, str]]:
        """[(course, role)] from the courses column (checked by entry_problems)."""
        pairs = []
        for item in _COURSE_SEP.split(self.courses.strip()):
            if item:
                course, _, role = item.partition(":")
                pairs.append((course, role or "student"))
        return pairs

    def __repr__(self) -> str:
        # Rosters end up in logs and tracebacks; the password must not.
        shown = "None" if self.password is None else "'<hidden>'"
        return (
            f"RosterEntry(username={self.username!r}, full_name={self.full_name!r}, "
            f"email={self.email!r}, role={self.role!r}, password={shown}, line={self.line}, "
            f"courses={self.courses!r})"
        )


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _is_system_account(name: str) -> bool:
    try:
        return pwd.getpwnam(name).pw_uid < SYSTEM_UID_LIMIT
    except (KeyError, OSError):
        return False


def validate_username(name: str) -> str | None:
    """An error message saying how to fix `name`, or None if it is a usable username."""
    if not name:
        return "username is empty"
    if USERNAME_RE.match(name) is None:
        lower = name.lower()
        if lower != name and USERNAME_RE.match(lower):
            return (
                f"username {name!r} has capital letters; usernames are lower case because "
                f"JupyterHub lower-cases names, so {name!r} and {lower!r} would become "
                f"one account: use {lower!r}"
            )
        return (
            f"username {_shown(name)} is not valid: use 1-31 lower-case letters, digits, "
            "'.', '_' or '-', starting with a letter"
        )
    if name in RESERVED_NAMES or _is_system_account(name):
        return f"username {name!r} is reserved for the system; choose another name"
    return None


def normalize_role(role: str) -> str:
    """Roles are case-insensitive; an empty role means student."""
    return role.strip().lower() or "student"


def validate_role(role: str) -> str | None:
    if role in ROLE_NAMES:
        return None
    return f"role {_shown(role)} is not known; use one of: {', '.join(ROLE_NAMES)}"


def validate_email(email: str) -> str | None:
    if not email:
        return None
    if len(email) > MAX_EMAIL or not EMAIL_RE.match(email):
        return (
            f"email {_shown(email)} does not look like an address (name@example.org); "
            "correct it or leave it empty"
        )
    return None


def validate_full_name(full_name: str) -> str | None:
    if len(full_name) > MAX_FULL_NAME:
        return f"full name is longer than {MAX_FULL_NAME} characters; shorten it"
    return None


def validate_password(password: str, min_length: int) -> str | None:
    """Never includes the password (or its length) in the message."""
    if len(password) < min_length:
        return f"password is shorter than {min_length} characters; choose a longer one"
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:
        return "password contains characters that cannot be stored; retype it"
    if size > MAX_PASSWORD_BYTES:
        return (
            f"password is longer than {MAX_PASSWORD_BYTES} bytes (bcrypt's limit; letters "
            "outside ASCII take 2-4 bytes each); choose a shorter one"
        )
    return None


def entry_problems(entry: RosterEntry, min_password_length: int) -> list[str]:
    """Every field-level problem of one entry."""
    messages = [
        validate_username(entry.username),
        validate_full_name(entry.full_name),
        validate_email(entry.email),
        validate_role(entry.role),
        validate_courses(entry),
    ]
    if entry.password is not None:
        messages.append(validate_password(entry.password, min_password_length))
    return [m for m in messages if m]


def validate_courses(entry: RosterEntry) -> str | None:
    from coursehub.core.names import validate_course_name

    for course, role in entry.course_roles:
        problem = validate_course_name(course)
        if problem:
            return f"courses: {problem}"
        if role not in COURSE_ROLES:
            return (
                f"courses: {_shown(course + ':' + role)} has an unknown role; write "
                f"{course}, {course}:ta or {course}:instructor"
            )
    return None


def check_entries(
    entries: list[RosterEntry], source: str, *, min_password_length: int
) -> list[RosterProblem]:
    """Problems of all entries, duplicates included, in line order."""
    problems = []
    first_line: dict[str, int] = {}
    for entry in entries:
        for message in entry_problems(entry, min_password_length):
            problems.append(RosterProblem(source, entry.line, message))
        if entry.username in first_line:
            first = first_line[entry.username]
            problems.append(
                RosterProblem(
                    source,
                    entry.line,
                    f"duplicate username {entry.username!r} (lines {first} and {entry.line}); "
                    "keep one line per account",
                )
            )
        else:
            first_line[entry.username] = entry.line
    return problems


def _csv_fields(line: str) -> list[str]:
    try:
        return [field.strip() for field in next(csv.reader([line]))]
    except csv.Error:  # e.g. a value over the csv module's size limit
        return []


def _column_name(header: str) -> str:
    name = re.sub(r"[\s-]+", "_", header.strip().lower())
    return _ALIASES.get(name, name)


def _parse_csv(
    lines: list[tuple[int, str]], source: str
) -> tuple[list[RosterEntry], list[RosterProblem]]:
    header_no, header = lines[0]
    problems: list[RosterProblem] = []
    columns: list[str | None] = []  # None: a bad column, skipped so rows can still be checked
    for pos, title in enumerate(_csv_fields(header), 1):
        name = _column_name(title)
        message = None
        if not name:
            message = f"column {pos} of the header has no name; name it or remove the comma"
        elif name not in COLUMNS:
            message = (
                f"unknown column {_shown(title)}; allowed columns are {_ALLOWED} "
                "('name' or 'full name' also mean full_name)"
            )
        elif name in columns:
            message = f"column {name!r} appears twice in the header; keep one"
        if message:
            problems.append(RosterProblem(source, header_no, message))
        columns.append(None if message else name)
    if len(lines) == 1:
        problems.append(
            RosterProblem(
                source,
                header_no,
                "the CSV has a header row but no accounts; add one line per account below it",
            )
        )
    entries = []
    for number, line in lines[1:]:
        fields = _csv_fields(line)
        if len(fields) != len(columns):
            problems.append(
                RosterProblem(
                    source,
                    number,
                    f"expected {len(columns)} comma-separated values as in the header but "
                    f"found {len(fields)}; add the missing commas or put values that contain "
                    'commas in double quotes ("Smith, Ann")',
                )
            )
            continue
        row = {name: value for name, value in zip(columns, fields, strict=True) if name}
        entries.append(
            RosterEntry(
                username=row["username"],
                full_name=row.get("full_name", ""),
                email=row.get("email", ""),
                role=normalize_role(row.get("role", "")),
                password=row.get("password") or None,
                line=number,
                courses=row.get("courses", ""),
            )
        )
    return entries, problems


def _parse_pairs(
    lines: list[tuple[int, str]], source: str
) -> tuple[list[RosterEntry], list[RosterProblem]]:
    entries, problems = [], []
    for number, line in lines:
        name, colon, password = (part.strip() for part in line.partition(":"))
        # The raw line may hold a password, so these messages never quote it.
        if not colon:
            message = "expected username:password on this line"
        elif "," in name:
            message = f"this looks like a CSV line without a header row; {_FORMATS_HINT}"
        elif not password:
            message = "no password after ':'; write username:password"
        else:
            entries.append(RosterEntry(username=name, password=password, line=number))
            continue
        problems.append(RosterProblem(source, number, message))
    return entries, problems


def parse_roster(
    text: str, source: str = "<roster>", *, min_password_length: int = 8
) -> list[RosterEntry]:
    """Entries of a roster, or RosterError listing every bad line.

    The format is detected from the first line that is neither blank nor a ``#``
    comment: a CSV header row naming ``username``, otherwise ``username:password``
    lines (students). Spaces around values, passwords included, are ignored.
    """
    lines = [
        (number, line.strip())
        for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), 1)
    ]
    lines = [(number, line) for number, line in lines if line and not line.startswith("#")]
    if not lines:
        message = f"the roster has no accounts; {_FORMATS_HINT}"
        raise RosterError([RosterProblem(source, 1, message)])
    first_no, first = lines[0]
    if "username" in (_column_name(title) for title in _csv_fields(first)):
        entries, problems = _parse_csv(lines, source)
    elif ":" in first:
        entries, problems = _parse_pairs(lines, source)
    else:
        raise RosterError(
            [RosterProblem(source, first_no, f"cannot tell the roster's format; {_FORMATS_HINT}")]
        )
    problems += check_entries(entries, source, min_password_length=min_password_length)
    if problems:
        raise RosterError(sorted(problems, key=lambda p: p.line))
    return entries


def read_roster_file(path: Path, *, min_password_length: int = 8) -> list[RosterEntry]:
    """Read and parse a roster file; any failure is a RosterError naming the file."""
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        message = "roster file not found; check the path (roster.file in coursehub.yaml)"
        raise RosterError([RosterProblem(source, 0, message)]) from None
    except IsADirectoryError:
        message = "this is a directory; roster.file must name a CSV or username:password file"
        raise RosterError([RosterProblem(source, 0, message)]) from None
    except OSError as exc:
        message = f"cannot read the roster: {exc.strerror}; check its permissions"
        raise RosterError([RosterProblem(source, 0, message)]) from None
    fix = "save the roster as UTF-8 text (in Excel: 'CSV UTF-8')"
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        message = f"the roster is not UTF-8 text (it may be UTF-16 or a spreadsheet); {fix}"
        raise RosterError([RosterProblem(source, line, message)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        problems = []
        for number, raw in enumerate(data.split(b"\n"), 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(RosterProblem(source, number, f"line is not UTF-8 text; {fix}"))
        raise RosterError(problems) from None
    return parse_roster(text, source, min_password_length=min_password_length)
