"""coursehub's site roles and the JupyterHub groups that carry them."""

from __future__ import annotations

ROLE_GROUPS: dict[str, str] = {
    "admin": "coursehub-admins",
    "instructor": "coursehub-instructors",
    "ta": "coursehub-tas",
    "student": "coursehub-students",
}
GROUP_ROLES = {group: role for role, group in ROLE_GROUPS.items()}

SERVICE_NAME = "coursehub"
CLI_SERVICE_NAME = "coursehub-cli"
CULLER_SERVICE_NAME = "idle-culler"


def groups_for_role(role: str) -> list[str]:
    """The JupyterHub groups a user of `role` belongs to (exactly one)."""
    return [ROLE_GROUPS[role]]


def role_from_groups(groups: list[str], admin: bool = False) -> str:
    """The strongest coursehub role implied by hub group membership."""
    if admin:
        return "admin"
    for role in ("admin", "instructor", "ta", "student"):
        if ROLE_GROUPS[role] in groups:
            return role
    return "student"
