"""Course enrolments from a roster's `courses` column ("algebra physics:ta")."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from coursehub.accounts.roster import RosterEntry
from coursehub.config.layout import DataLayout
from coursehub.courses.store import CourseStore
from coursehub.db.session import Database


@dataclass
class RosterEnrolment:
    enrolled: int = 0
    # Courses the roster names that do not exist (yet): course -> roster lines.
    unknown: dict[str, list[int]] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"{self.enrolled} course enrolment(s)"
        if self.unknown:
            missing = "; ".join(
                f"{course} (line {', '.join(map(str, lines))})"
                for course, lines in sorted(self.unknown.items())
            )
            text += (
                f"; skipped courses that do not exist yet: {missing}. Add them with "
                "`coursehub course add`, then import the roster again"
            )
        return text


def enrol_from_roster(store: CourseStore, entries: list[RosterEntry]) -> RosterEnrolment:
    """Enrol everyone in the courses their line names (roles changed where they
    differ); nobody is unenrolled. Courses that do not exist are reported, not made."""
    wanted: dict[tuple[str, str], list[str]] = defaultdict(list)
    lines: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        for course, role in entry.course_roles:
            wanted[(course, role)].append(entry.username)
            lines[course].append(entry.line)
    known = {c.name for c in store.list()}
    result = RosterEnrolment()
    for (course, role), usernames in sorted(wanted.items()):
        if course in known:
            result.enrolled += len(store.enrol_many(course, usernames, role))
        else:
            result.unknown[course] = lines[course]
    return result


def enrol_roster_entries(db: Database, data_dir: Path, entries: list[RosterEntry]) -> str:
    """enrol_from_roster with a store made here; returns the summary line."""
    if not any(e.courses for e in entries):
        return ""
    return enrol_from_roster(CourseStore(db, DataLayout(data_dir)), entries).summary()
