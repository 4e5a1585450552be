"""Sign-in with GitHub, restricted to one organisation, roles and course enrolments
from its teams (team_roles, team_courses).

The class stays an OAuthenticator so its oauth_login/oauth_callback pages keep working;
passwords, LMS tickets and `?auth_token=` links are offered beside it when configured.

A GitHub user gets a coursehub account at their first sign-in, pinned to their GitHub
user id (accounts.signins): a login equal to another method's username is refused,
and a login someone gave up does not open its former owner's account.
"""

from __future__ import annotations

import asyncio
from typing import Any

from oauthenticator.github import GitHubOAuthenticator
from tornado import web
from traitlets import Dict

from coursehub.accounts.signins import ROLE_STRENGTH, IdentityConflict
from coursehub.courses.team_enrolment import courses_from_teams
from coursehub.hub.auth.local import PasswordSignInMixin

# Where update_auth_model leaves the role GitHub's teams grant, for oauth_sign_in.
TEAM_ROLE_KEY = "coursehub_team_role"
# ... and the course enrolments they give (course -> role), when the teams were read.
TEAM_COURSES_KEY = "coursehub_team_courses"


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
    team_courses = Dict(
        config=True,
        help="GitHub team slug -> [[course, role], ...]: the course enrolments the team "
        "gives, kept in step at each GitHub sign-in (courses.team_enrolment).",
    )

    async def oauth_sign_in(self, handler: Any) -> dict[str, Any] | None:
        model = await GitHubOAuthenticator.authenticate(self, handler, None)
        return await self._open_account(model) if model else None

    async def oauth_allowed(self, username: str, authentication: dict[str, Any]) -> bool:
        # organisation membership, checked with the user's GitHub token, for their
        # GitHub login (the account's name stays the login it was made with)
        github_user = (authentication.get("auth_state") or {}).get("github_user") or {}
        login = github_user.get("login") or username
        return await GitHubOAuthenticator.check_allowed(self, login, authentication)

    async def oauth_refresh(self, user: Any, handler: Any) -> bool | dict[str, Any]:
        refreshed = await GitHubOAuthenticator.refresh_user(self, user, handler)
        if isinstance(refreshed, dict):
            return await self._open_account(refreshed)
        return refreshed

    async def _open_account(self, model: dict[str, Any]) -> dict[str, Any]:
        """The account this GitHub user opens (made at their first sign-in), with the
        role their teams, the roles section and the account grant."""
        state = model.get("auth_state") or {}
        github_id = (state.get("github_user") or {}).get("id")
        login = model["name"]
        try:
            claimed = await asyncio.to_thread(
                self.signins.claim,
                login,
                "github",
                subject=str(github_id) if github_id is not None else None,
                create=True,
            )
        except IdentityConflict as exc:
            self.log.warning("GitHub sign-in of %r refused: %s", login, exc)
            raise web.HTTPError(403, exc.page_message) from None
        assert claimed is not None  # create=True
        account = claimed.account
        wanted = state.get(TEAM_COURSES_KEY)
        if isinstance(wanted, dict):
            await self._enrol_from_teams(account.username, wanted)
        team_role = state.get(TEAM_ROLE_KEY) or "student"
        stronger = max(team_role, account.role, key=ROLE_STRENGTH.__getitem__)
        role = self.role_for(account.username, stronger, claimed.methods)
        # after oauthenticator's own managed groups, which know nothing of our roles
        model.update(self.auth_model(account.username, role, "github"))
        return model

    async def _enrol_from_teams(self, username: str, wanted: dict[str, str]) -> None:
        from coursehub.courses.team_enrolment import sync_team_enrolments

        changes = await asyncio.to_thread(
            sync_team_enrolments, self.account_store.db, username, wanted
        )
        if changes.added or changes.changed or changes.removed or changes.unknown_courses:
            self.log.info("GitHub teams of %r: %s", username, changes.summary())

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        # populate_teams_in_auth_state makes oauthenticator fetch /user/teams for us.
        auth_model = await super().update_auth_model(auth_model)
        state = auth_model.get("auth_state")
        raw_teams = (state or {}).get("teams")
        teams = [(t["organization"]["login"], t["slug"]) for t in raw_teams or []]
        org = next(iter(self.allowed_organizations))
        name = self.normalize_username(auth_model["name"])
        team_role = role_from_teams(teams, org, self.team_roles)
        if isinstance(state, dict):
            state[TEAM_ROLE_KEY] = team_role
            if isinstance(raw_teams, list):
                # only when GitHub listed the teams: without that list nothing is taken away
                grants = {team: [tuple(g) for g in gs] for team, gs in self.team_courses.items()}
                state[TEAM_COURSES_KEY] = courses_from_teams(teams, org, grants)
        role = self.role_for(name, team_role, ("github",))
        auth_model.update(self.auth_model(name, role, "github"))
        return auth_model
