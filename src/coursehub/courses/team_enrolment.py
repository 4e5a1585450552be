"""Course enrolments from GitHub teams (auth.github.team_courses), as summer schools
run their courses on a GitHub organisation.

At each GitHub sign-in the person's teams give the courses they should be in. What a
team gave is recorded (TeamEnrolment), so that leaving the team takes back exactly that:
an enrolment from a roster, an LMS or made by hand is never added to, changed or
removed here, and one whose role staff changed by hand becomes theirs to manage.
Leaving a course removes the enrolment alone (workspace, submissions and grades stay).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coursehub.courses.store import COURSE_ROLES
from coursehub.db import models
from coursehub.db.session import Database


@dataclass
class TeamEnrolmentChanges:
    added: list[tuple[str, str]] = field(default_factory=list)  # (course, role)
    changed: list[tuple[str, str]] = field(default_factory=list)  # (course, new role)
    removed: list[str] = field(default_factory=list)
    # enrolled otherwise (roster, LMS, by hand): left as they are
    left_alone: list[str] = field(default_factory=list)
    unknown_courses: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"added {', '.join(f'{c} ({r})' for c, r in self.added)}" if self.added else "",
            f"changed {', '.join(f'{c} ({r})' for c, r in self.changed)}" if self.changed else "",
            f"removed {', '.join(self.removed)}" if self.removed else "",
            f"no such course: {', '.join(self.unknown_courses)}" if self.unknown_courses else "",
        ]
        return "; ".join(p for p in parts if p) or "no change"


def courses_from_teams(
    teams: Iterable[tuple[str, str]],
    organization: str,
    team_courses: dict[str, list[tuple[str, str]]],
) -> dict[str, str]:
    """course -> the strongest role the user's teams in `organization` give.

    `teams` holds (organisation login, team slug) pairs; a team is named in
    `team_courses` by its slug or as org/slug; other organisations' teams give nothing.
    """
    org = organization.lower()
    by_team = {team.lower(): grants for team, grants in team_courses.items()}
    wanted: dict[str, str] = {}
    for team_org, slug in teams:
        if team_org.lower() != org:
            continue
        grants = [*by_team.get(slug.lower(), []), *by_team.get(f"{org}/{slug.lower()}", [])]
        for course, role in grants:
            current = wanted.get(course)
            if current is None or COURSE_ROLES.index(role) < COURSE_ROLES.index(current):
                wanted[course] = role
    return wanted


def sync_team_enrolments(
    db: Database, username: str, wanted: dict[str, str]
) -> TeamEnrolmentChanges:
    """Make `username`'s team-given enrolments match `wanted` (course -> role), in one
    transaction; courses that do not exist are reported, not made."""
    for attempt in range(3):
        try:
            with db.session() as s:
                return _sync(s, username, wanted)
        except IntegrityError:
            # the same person signing in twice at once: the other one's rows exist now
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _sync(s: Session, username: str, wanted: dict[str, str]) -> TeamEnrolmentChanges:
    changes = TeamEnrolmentChanges()
    known = set(s.scalars(select(models.Course.name).where(models.Course.name.in_(wanted))))
    grants = {
        g.course: g
        for g in s.scalars(
            select(models.TeamEnrolment).where(models.TeamEnrolment.username == username)
        )
    }
    for course, role in sorted(wanted.items()):
        if course not in known:
            changes.unknown_courses.append(course)
            continue
        enrolment = s.get(models.Enrolment, (course, username))
        grant = grants.get(course)
        if enrolment is None:
            s.add(models.Enrolment(course=course, username=username, role=role))
            if grant is None:
                s.add(models.TeamEnrolment(course=course, username=username, role=role))
            else:
                grant.role = role
            changes.added.append((course, role))
        elif grant is None:
            changes.left_alone.append(course)
        elif grant.role != enrolment.role:
            # staff changed the role by hand: theirs now, the team's record goes
            s.delete(grant)
            changes.left_alone.append(course)
        elif enrolment.role != role:
            enrolment.role = grant.role = role
            changes.changed.append((course, role))
    for course, grant in sorted(grants.items()):
        if course in wanted:
            continue
        enrolment = s.get(models.Enrolment, (course, username))
        if enrolment is not None and enrolment.role == grant.role:
            s.delete(enrolment)
            changes.removed.append(course)
        s.delete(grant)
    return changes
