"""GitHub team membership decides the coursehub role (summer-school set-up)."""

from __future__ import annotations

from coursehub.core.roles import groups_for_role
from coursehub.db.session import Database
from coursehub.hub.auth.github import role_from_teams

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


async def test_github_sign_in_is_recorded_and_only_github_users_take_its_path(
    db: Database,
) -> None:
    from coursehub.hub.auth.github import CoursehubGitHubAuthenticator

    auth = CoursehubGitHubAuthenticator(
        coursehub_db_url=db.url,
        signin_methods=["github", "local"],
        client_id="abc",
        client_secret="gh-secret",
        oauth_callback_url="https://hub.example.edu/hub/oauth_callback",
        allowed_organizations={"school"},
        team_roles=TEAM_ROLES,
    )
    teams = [{"organization": {"login": "school"}, "slug": "teachers"}]
    model = await auth.update_auth_model(
        {
            "name": "Octo",
            "auth_state": {
                "github_user": {"login": "Octo", "email": "octo@example.edu"},
                "token_response": {"access_token": "t", "token_type": "bearer"},
                "teams": teams,
            },
        }
    )
    assert model["name"] == "octo" and model["groups"] == groups_for_role("instructor")
    assert model["user_info"] == {"coursehub_signin": "github"}
    # a password sign-in never reaches the organisation check (no GitHub token to use)
    local = {"name": "octo", "user_info": {"coursehub_signin": "local"}}
    assert await auth.check_allowed("octo", local) is True
    assert await auth.check_allowed("octo", {"name": "octo", "user_info": None}) is False
