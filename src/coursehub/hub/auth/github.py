"""Sign-in with GitHub, restricted to one organisation, roles from its teams.

The class stays an OAuthenticator so its oauth_login/oauth_callback pages keep working;
passwords, LMS tickets and `?auth_token=` links are offered beside it when configured.
"""

from __future__ import annotations

from typing import Any

from oauthenticator.github import GitHubOAuthenticator
from traitlets import Dict

from coursehub.hub.auth.local import PasswordSignInMixin

ROLE_STRENGTH = {"student": 0, "ta": 1, "instructor": 2, "admin": 3}


def role_from_teams(teams: list[tuple[str, str]], organization: str, team_roles: dict) -> str:
    """The strongest role any of the user's teams in `organization` grants.

    `teams` holds (organisation login, team slug) pairs; teams of other
    organisations never grant anything.
    """
    org = organization.lower()
    role = "student"
    for team_org, slug in teams:
        if team_org.lower() != org:
            continue
        granted = team_roles.get(slug) or team_roles.get(f"{team_org}/{slug}")
        if granted and ROLE_STRENGTH[granted] > ROLE_STRENGTH[role]:
            role = granted
    return role


class CoursehubGitHubAuthenticator(PasswordSignInMixin, GitHubOAuthenticator):
    team_roles = Dict(
        config=True, help="GitHub team slug -> coursehub role (admin, instructor, ta)."
    )

    async def oauth_sign_in(self, handler: Any) -> dict[str, Any] | None:
        return await GitHubOAuthenticator.authenticate(self, handler, None)

    async def oauth_allowed(self, username: str, authentication: dict[str, Any]) -> bool:
        # organisation membership, checked with the user's GitHub token
        return await GitHubOAuthenticator.check_allowed(self, username, authentication)

    async def oauth_refresh(self, user: Any, handler: Any) -> bool | dict[str, Any]:
        return await GitHubOAuthenticator.refresh_user(self, user, handler)

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        # populate_teams_in_auth_state makes oauthenticator fetch /user/teams for us.
        auth_model = await super().update_auth_model(auth_model)
        raw_teams = (auth_model.get("auth_state") or {}).get("teams") or []
        teams = [(t["organization"]["login"], t["slug"]) for t in raw_teams]
        org = next(iter(self.allowed_organizations))
        name = self.normalize_username(auth_model["name"])
        role = self.role_for(name, role_from_teams(teams, org, self.team_roles))
        auth_model.update(self.auth_model(name, role, "github"))
        return auth_model
