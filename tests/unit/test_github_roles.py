"""GitHub team membership decides the coursehub role (summer-school set-up)."""

from __future__ import annotations

from coursehub.hub.auth_github import role_from_teams

TEAM_ROLES = {"teachers": "instructor", "helpers": "ta", "school/organisers": "admin"}


def test_member_of_no_listed_team_is_a_student() -> None:
    assert role_from_teams([("school", "participants")], "school", TEAM_ROLES) == "student"


def test_strongest_team_wins() -> None:
    teams = [("school", "helpers"), ("school", "teachers")]
    assert role_from_teams(teams, "school", TEAM_ROLES) == "instructor"
    assert role_from_teams([("school", "organisers")], "school", TEAM_ROLES) == "admin"


def test_same_team_name_in_another_organisation_grants_nothing() -> None:
    assert role_from_teams([("evil-org", "teachers")], "school", TEAM_ROLES) == "student"


def test_organisation_name_is_case_insensitive() -> None:
    assert role_from_teams([("School", "teachers")], "school", TEAM_ROLES) == "instructor"
