"""What a reader found in a repository: course.yaml-shaped data and the file it came from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_NOT_NAME = re.compile(r"[^a-z0-9_-]+")


@dataclass
class Found:
    source: str  # the repository file read, e.g. ".nbhosting/nbhosting.yaml"
    value: Any  # course.yaml-shaped data (a list of tracks, of mappings, a file path)
    notes: list[str] = field(default_factory=list)  # what was read but is not used


def track_name(wanted: str, taken: set[str], fallback: str = "track") -> str:
    """A course.yaml track name (lower-case, digits, '-', '_') from any title or id."""
    name = _NOT_NAME.sub("-", wanted.lower()).strip("-_")[:60] or fallback
    if not name[0].isalnum():
        name = f"t{name}"[:60]
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}-{n}", n + 1
    taken.add(unique)
    return unique
