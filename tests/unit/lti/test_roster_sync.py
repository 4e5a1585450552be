"""Course rosters from an LMS (NRPS) against the platform simulator: real HTTP over
several pages, a real SQLite database and course."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from coursehub.config.models import LtiPlatformConfig
from coursehub.courses.store import CourseStore
from coursehub.db import models
from coursehub.db.session import Database
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.lti.identities import IdentityStore, LmsPerson
from coursehub.lti.keys import ToolKey, jwks
from coursehub.lti.platforms import Platform, PlatformStore
from coursehub.lti.roster_sync import RosterSyncError, sync_course_roster
from coursehub.lti.service_token import LmsCallError, ServiceTokens, next_link
from tests.helpers.lti_fixtures import lti_cli
from tests.helpers.lti_platform import INSTRUCTOR, LEARNER, TA, PlatformSimulator

MENTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"


@dataclass
class Site:
    sim: PlatformSimulator
    db: Database
    courses: CourseStore
    platform: Platform
    tokens: ServiceTokens
    context_pk: int

    def member(self, user_id: str, name: str, roles: list[str], status: str = "Active") -> None:
        given, family = name.split()
        email = f"{given.lower()}@example.org"
        self.sim.add_member(
            user_id,
            name=name,
            given_name=given,
            family_name=family,
            email=email,
            roles=roles,
            status=status,
        )

    def sync(self):  # noqa: ANN201 - RosterReport
        return sync_course_roster(self.db, self.courses, self.tokens, "physics", "email")

    def roles(self) -> dict[str, str]:
        return {e.username: e.role for e in self.courses.members("physics")}

    def context(self) -> models.LtiContext:
        with self.db.session() as s:
            return s.get(models.LtiContext, self.context_pk)


@pytest.fixture
def site(tool_key: ToolKey, cli_courses: CourseStore) -> Iterator[Site]:
    courses, db = cli_courses, cli_courses.db
    with PlatformSimulator() as sim:
        sim.tool_jwks = jwks(tool_key)
        sim.page_size = 2
        spec = LtiPlatformConfig(**sim.platform_fields())
        platform = PlatformStore(db).add(spec)
        with db.session() as s:
            row = models.LtiContext(
                platform_id=platform.id,
                context_id="ctx-101",
                course="physics",
                title="Physics 101",
                nrps_url=f"{sim.url}/nrps/ctx-101/memberships",
            )
            s.add(row)
            s.flush()
            pk = row.id
        tokens = ServiceTokens(tool_key)
        made = Site(sim, db, courses, platform, tokens, pk)
        made.member("u-ines", "Ines Iglesias", [INSTRUCTOR])
        made.member("u-tom", "Tom Tran", [INSTRUCTOR, TA])
        made.member("u-alice", "Alice Liddell", [LEARNER])
        made.member("u-bob", "Bob Brown", [LEARNER])
        made.member("u-mo", "Mo Mentor", [MENTOR])
        made.member("u-ivy", "Ivy Idle", [LEARNER], status="Inactive")
        try:
            yield made
        finally:
            tokens.close()


def test_every_page_of_members_gets_an_account_and_their_role(site: Site) -> None:
    report = site.sync()
    assert (report.added, report.updated, report.removed, report.skipped) == (4, 0, 0, 1)
    assert site.roles() == {"ines": "instructor", "tom": "ta", "alice": "student", "bob": "student"}
    pages = [p for m, p, status in site.sim.request_log if p.startswith("/nrps/") and status == 200]
    assert len(pages) == 3  # six members, two a page
    with site.db.session() as s:
        alice = s.get(models.Account, "alice")
        assert (alice.full_name, alice.email) == ("Alice Liddell", "alice@example.org")
        assert s.get(models.Account, "mo") is None  # a mentor is no one here
        assert s.get(models.Account, "ivy") is None  # inactive: not made
    assert IdentityStore(site.db).subject_of(site.platform.id, "alice") == "u-alice"
    ctx = site.context()
    assert ctx.roster_synced_at is not None
    assert ctx.roster_sync_outcome.startswith("ok: 6 members listed")
    assert "4 added" in ctx.roster_sync_outcome


def test_a_second_sync_changes_nothing(site: Site) -> None:
    site.sync()
    before = site.roles()
    again = site.sync()
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 4)
    assert site.roles() == before
    with site.db.session() as s:
        assert (
            s.scalar(select(models.Account.username).where(models.Account.username.like("alice-%")))
            is None
        )


def test_a_launch_made_account_is_the_one_the_roster_uses(site: Site) -> None:
    person = LmsPerson(subject="u-alice", email="alice@example.org")
    made = IdentityStore(site.db).username_for(site.platform, person, "email")
    site.sync()
    assert made == "alice" and site.roles()["alice"] == "student"


def test_students_who_leave_lose_the_enrolment_but_keep_their_work(
    site: Site, tmp_path: Path
) -> None:
    site.sync()
    grading = GradingStore(site.db, GradingPaths(tmp_path / "data"))
    a = grading.save_assignment(
        "physics", "ps1", "nbgrader", [{"name": "q1", "points": 1}], ["ps1.ipynb"]
    )
    sub = grading.submit(a, "bob", {"ps1.ipynb": b'{"cells": []}'}).submission
    files = grading.submission_files(sub)
    # enrolled by hand: a local student, and an LMS user made TA by an instructor
    site.courses.enrol("physics", "carol")
    IdentityStore(site.db).username_for(
        site.platform, LmsPerson(subject="u-dan", email="dan@example.org"), "email"
    )
    site.courses.enrol("physics", "dan", "ta")

    del site.sim.members["u-bob"]  # left the LMS course
    site.sim.members["u-alice"]["status"] = "Inactive"  # suspended
    del site.sim.members["u-tom"]  # staff who left stay staff
    report = site.sync()
    assert (report.removed, sorted(report.removed_users)) == (2, ["alice", "bob"])
    assert site.roles() == {"ines": "instructor", "tom": "ta", "dan": "ta", "carol": "student"}
    # what bob made stays: account, submission and its files
    assert grading.submission(sub.id).username == "bob"
    assert (files / "ps1.ipynb").read_bytes() == b'{"cells": []}'
    with site.db.session() as s:
        assert s.get(models.Account, "bob") is not None

    site.sim.members["u-alice"]["status"] = "Active"  # back: enrolled again
    assert site.sync().added == 1 and site.roles()["alice"] == "student"


def test_roles_are_raised_from_the_lms_but_never_lowered(site: Site) -> None:
    site.sync()
    site.sim.members["u-alice"]["roles"] = [TA]
    site.sim.members["u-tom"]["roles"] = [LEARNER]
    report = site.sync()
    assert report.updated == 1
    assert site.roles()["alice"] == "ta"
    assert site.roles()["tom"] == "ta"  # may have been given by hand: kept


def test_a_failed_page_removes_nobody_and_is_recorded(site: Site) -> None:
    site.sync()
    del site.sim.members["u-bob"]
    site.sim.fail_next("/nrps/", 1, 503)
    report = site.sync()
    assert report.removed == 0 and site.roles()["bob"] == "student"
    assert any("HTTP 503" in p for p in report.problems)
    assert any("nobody was removed" in p for p in report.problems)
    ctx = site.context()
    assert ctx.roster_sync_outcome.startswith("failed:") and "HTTP 503" in ctx.roster_sync_outcome
    # the next sync reads every page and catches up
    assert site.sync().removed_users == ["bob"]


def test_a_course_without_a_linked_lms_course_cannot_be_synced(site: Site) -> None:
    with site.db.session() as s:
        s.get(models.LtiContext, site.context_pk).course = None
    with pytest.raises(RosterSyncError, match="not linked"):
        site.sync()


def test_next_page_links_to_another_site_are_refused() -> None:
    page = "http://lms.example/nrps/1/memberships"
    for link, allowed in (
        ("/nrps/1/memberships?page=2", True),
        ("http://lms.example/nrps/1/memberships?page=2", True),
        ("http://evil.example/collect", False),
        ("https://lms.example/nrps/1/memberships?page=2", False),
    ):
        response = httpx.Response(
            200, headers={"Link": f'<{link}>; rel="next"'}, request=httpx.Request("GET", page)
        )
        if allowed:
            assert next_link(response, page).startswith("http://lms.example/")
        else:
            with pytest.raises(LmsCallError, match="another site"):
                next_link(response, page)


def test_sync_roster_from_the_command_line_prints_the_counts(site: Site, tmp_path: Path) -> None:
    done = lti_cli(tmp_path, "sync-roster", "physics")
    assert done.returncode == 0, done.stderr
    counts = [line for line in done.stdout.splitlines() if line.count("│") >= 4][-1]
    assert [c.strip() for c in counts.split("│")[1:-1]] == ["4", "0", "0", "1", "0"]
    assert site.roles()["tom"] == "ta"
