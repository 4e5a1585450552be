"""The rule for course names, shared by coursehub.yaml, rosters, the course store and
LMS course links: one definition, so a name one of them accepts, all of them accept."""

from __future__ import annotations

import re

COURSE_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
COURSE_NAME_RULE = "use 1-40 lower-case letters, digits, '-' or '_', starting with a letter"


def validate_course_name(name: str) -> str | None:
    """An error message saying how to fix `name`, or None if it is usable."""
    if COURSE_NAME_RE.match(name):
        return None
    hint = f"; use {name.lower()!r}" if COURSE_NAME_RE.match(name.lower()) else ""
    return f"course name {name[:60]!r} is not valid: {COURSE_NAME_RULE}{hint}"
