"""Course rosters from the LMS (NRPS): accounts and enrolments exist before anyone's
first launch, and students who left the LMS course leave the coursehub course.

What a sync may undo: only student enrolments of people who have an account through
this LMS (an LTI identity on the platform of a linked LMS course), and only when every
LMS course linked to the course was read completely. Staff enrolments are never
removed or lowered (they may have been given by hand, or in course.yaml), and a role
is only ever raised, as at a launch. Leaving a course removes the enrolment alone:
the student's workspace, submissions and grades stay (they come back on re-enrolment).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from coursehub.core.errors import CoursehubError
from coursehub.courses.store import CourseError, CourseStore
from coursehub.db.models import Course, Enrolment, LtiContext, LtiIdentity
from coursehub.db.session import Database
from coursehub.lti.grade_sync import retry_new_identities
from coursehub.lti.identities import IdentityError, IdentityStore
from coursehub.lti.nrps import fetch_members
from coursehub.lti.platforms import PlatformStore
from coursehub.lti.roles import STRENGTH, course_role
from coursehub.lti.service_token import LmsCallError, ServiceTokens


class RosterSyncError(CoursehubError):
    """The course cannot be synced at all (e.g. it is linked to no LMS course)."""

    exit_code = 2


@dataclass
class RosterReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0  # members with no role coursehub knows, or no usable id
    unchanged: int = 0
    scores_queued: int = 0  # scores that waited for a student's LMS account
    removed_users: builtins.list[str] = field(default_factory=builtins.list)
    problems: builtins.list[str] = field(default_factory=builtins.list)

    def summary(self) -> str:
        text = f"{self.counts()}, {self.unchanged} unchanged"
        return text + ("; " + "; ".join(self.problems) if self.problems else "")

    def counts(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.skipped} skipped"
        )


@dataclass(frozen=True)
class _Linked:
    pk: int
    platform_id: int
    title: str
    nrps_url: str | None


def _linked(db: Database, course: str) -> builtins.list[_Linked]:
    with db.session() as s:
        rows = s.scalars(
            select(LtiContext).where(LtiContext.course == course).order_by(LtiContext.id)
        )
        return [_Linked(r.id, r.platform_id, r.title or r.context_id, r.nrps_url) for r in rows]


def sync_course_roster(
    db: Database,
    courses: CourseStore,
    tokens: ServiceTokens,
    course: str,
    username_claim: str = "email",
) -> RosterReport:
    """Bring the course's enrolments in line with its linked LMS courses' members."""
    linked = _linked(db, course)
    if courses.get(course) is None:
        raise RosterSyncError(f"there is no course {course!r} (see: coursehub course list)")
    if not linked:
        raise RosterSyncError(
            f"course {course!r} is not linked to an LMS course (an instructor's launch "
            "from the LMS links it)"
        )
    report = RosterReport()
    identities, platforms = IdentityStore(db), PlatformStore(db)
    wanted: dict[str, str] = {}  # username -> strongest role listed
    present: set[str] = set()  # everyone listed as active, whatever their role
    complete = True
    outcomes: dict[int, str] = {}
    for ctx in linked:
        platform = platforms.get(ctx.platform_id)
        if platform is None or not ctx.nrps_url:
            complete = False
            outcomes[ctx.pk] = "not synced: the LMS offers no member list for this course"
            continue
        try:
            members = fetch_members(tokens, platform, ctx.nrps_url)
        except LmsCallError as exc:
            complete = False
            outcomes[ctx.pk] = f"failed: {exc}"
            report.problems.append(f"{platform.name} {ctx.title}: {exc}")
            continue
        for member in members:
            if not member.active:
                continue
            role = course_role(member.roles)
            if role is None:
                report.skipped += 1
                known = identities.known(platform.id, member.person.subject)
                if known:
                    present.add(known)
                continue
            try:
                # known() first: username_for would count this as a launch
                username = identities.known(
                    platform.id, member.person.subject
                ) or identities.username_for(platform, member.person, username_claim)
            except IdentityError:
                report.skipped += 1
                continue
            present.add(username)
            if STRENGTH[role] > STRENGTH.get(wanted.get(username, ""), 0):
                wanted[username] = role
        outcomes[ctx.pk] = f"ok: {len(members)} members listed"
    _enrol(courses, course, wanted, report)
    if complete:
        _remove_departed(db, courses, course, linked, present, report)
    else:
        report.problems.append("nobody was removed: not every linked LMS course was read")
    _record(db, outcomes, report)
    report.scores_queued = retry_new_identities(db, course)
    return report


def _enrol(courses: CourseStore, course: str, wanted: dict[str, str], report: RosterReport) -> None:
    for username, role in sorted(wanted.items()):
        current = courses.role_of(course, username)
        if current is not None and STRENGTH.get(current, 0) >= STRENGTH[role]:
            report.unchanged += 1
            continue
        try:
            courses.enrol(course, username, role)
        except CourseError as exc:
            report.skipped += 1
            report.problems.append(f"{username}: {exc}")
            continue
        if current is None:
            report.added += 1
        else:
            report.updated += 1


def _remove_departed(
    db: Database,
    courses: CourseStore,
    course: str,
    linked: builtins.list[_Linked],
    present: set[str],
    report: RosterReport,
) -> None:
    """Unenrol students with an account from these LMSs who are no longer listed."""
    platform_ids = {c.platform_id for c in linked}
    with db.session() as s:
        departed = s.scalars(
            select(Enrolment.username)
            .join(LtiIdentity, LtiIdentity.username == Enrolment.username)
            .where(
                Enrolment.course == course,
                Enrolment.role == "student",
                LtiIdentity.platform_id.in_(platform_ids),
            )
            .distinct()
        ).all()
    for username in sorted(set(departed) - present):
        try:
            courses.unenrol(course, username)
        except CourseError:
            continue  # already gone
        report.removed += 1
        report.removed_users.append(username)


def _record(db: Database, outcomes: dict[int, str], report: RosterReport) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        for pk, outcome in outcomes.items():
            row = s.get(LtiContext, pk)
            if row is not None:
                row.roster_synced_at = now
                if outcome.startswith("ok"):  # the counts are the course's, from all
                    outcome = f"{outcome}; course: {report.counts()}"
                row.roster_sync_outcome = outcome[:300]


def courses_due(
    db: Database, interval: timedelta, now: datetime | None = None
) -> builtins.list[str]:
    """Active courses with an LMS member list not synced for `interval`."""
    now = now or datetime.now(UTC)
    with db.session() as s:
        rows = s.execute(
            select(Course.name, LtiContext.roster_synced_at)
            .join(Course, Course.name == LtiContext.course)
            .where(LtiContext.nrps_url.is_not(None), Course.archived.is_(False))
        ).all()
    due = {c for c, at in rows if at is None or now - at >= interval}
    return sorted(due)
