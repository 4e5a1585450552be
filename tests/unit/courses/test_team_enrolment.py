"""Course enrolments from GitHub teams: joining a team enrols, leaving it takes back what
the team gave and nothing else (real databases; the teams are as GitHub lists them)."""

from __future__ import annotations

import pytest

from coursehub.courses.team_enrolment import courses_from_teams, sync_team_enrolments
from coursehub.db import models
from coursehub.db.session import Database

TEAM_COURSES = {
    "teachers": [("ds101", "instructor")],
    "students-2026": [("ds101", "student"), ("ml102", "student")],
    "school/helpers": [("ds101", "ta")],
}


@pytest.fixture
def site(any_db: Database) -> Database:
    with any_db.session() as s:
        for name in ("ds101", "ml102", "stats"):
            s.add(models.Course(name=name, repo_url="/x", branch="main", last_pull_output=""))
    return any_db


def enrolments(db: Database, username: str) -> dict[str, str]:
    with db.session() as s:
        rows = s.query(models.Enrolment).filter_by(username=username).all()
        return {r.course: r.role for r in rows}


def enrol_by_hand(db: Database, course: str, username: str, role: str) -> None:
    with db.session() as s:
        s.add(models.Enrolment(course=course, username=username, role=role))


def test_the_strongest_role_of_the_users_teams_in_the_organisation_wins() -> None:
    teams = [("school", "students-2026"), ("School", "helpers"), ("other", "teachers")]
    assert courses_from_teams(teams, "school", TEAM_COURSES) == {
        "ds101": "ta",
        "ml102": "student",
    }
    # a team of another organisation with a listed slug gives nothing
    assert courses_from_teams([("other", "teachers")], "school", TEAM_COURSES) == {}


def test_joining_enrols_and_leaving_unenrols(site: Database) -> None:
    changes = sync_team_enrolments(site, "ana", {"ds101": "student", "ml102": "student"})
    assert sorted(changes.added) == [("ds101", "student"), ("ml102", "student")]
    assert enrolments(site, "ana") == {"ds101": "student", "ml102": "student"}
    # promoted to the teachers team, and out of students-2026
    changes = sync_team_enrolments(site, "ana", {"ds101": "instructor"})
    assert changes.changed == [("ds101", "instructor")] and changes.removed == ["ml102"]
    assert enrolments(site, "ana") == {"ds101": "instructor"}
    # out of every team
    assert sync_team_enrolments(site, "ana", {}).removed == ["ds101"]
    assert enrolments(site, "ana") == {}


def test_enrolments_from_a_roster_or_by_hand_are_never_touched(site: Database) -> None:
    enrol_by_hand(site, "stats", "ben", "ta")
    enrol_by_hand(site, "ds101", "ben", "student")
    changes = sync_team_enrolments(site, "ben", {"ds101": "instructor"})
    assert changes.left_alone == ["ds101"] and not changes.changed
    assert enrolments(site, "ben") == {"ds101": "student", "stats": "ta"}
    # leaving the team takes away nothing the team did not give
    assert sync_team_enrolments(site, "ben", {}).removed == []
    assert enrolments(site, "ben") == {"ds101": "student", "stats": "ta"}


def test_a_role_staff_changed_by_hand_becomes_theirs_to_manage(site: Database) -> None:
    sync_team_enrolments(site, "cleo", {"ds101": "student"})
    with site.session() as s:
        s.get(models.Enrolment, ("ds101", "cleo")).role = "ta"  # made a TA on the staff page
    assert sync_team_enrolments(site, "cleo", {"ds101": "student"}).left_alone == ["ds101"]
    assert sync_team_enrolments(site, "cleo", {}).removed == []
    assert enrolments(site, "cleo") == {"ds101": "ta"}


def test_someone_unenrolled_by_hand_while_still_in_the_team_comes_back(site: Database) -> None:
    sync_team_enrolments(site, "dev", {"ds101": "student"})
    with site.session() as s:
        s.delete(s.get(models.Enrolment, ("ds101", "dev")))
    # the team is the source: while they are in it, they are in the course
    assert sync_team_enrolments(site, "dev", {"ds101": "student"}).added == [("ds101", "student")]
    assert enrolments(site, "dev") == {"ds101": "student"}


def test_courses_that_do_not_exist_are_reported_not_made(site: Database) -> None:
    changes = sync_team_enrolments(site, "eve", {"nope": "student", "ds101": "student"})
    assert changes.unknown_courses == ["nope"] and changes.added == [("ds101", "student")]
    assert "no such course: nope" in changes.summary()
    with site.session() as s:
        assert s.get(models.Course, "nope") is None


def test_a_removed_course_takes_its_team_records_with_it(site: Database) -> None:
    sync_team_enrolments(site, "fay", {"ml102": "student"})
    with site.session() as s:
        s.delete(s.get(models.Course, "ml102"))
    assert sync_team_enrolments(site, "fay", {}).removed == []
    with site.session() as s:
        assert s.query(models.TeamEnrolment).filter_by(username="fay").count() == 0
