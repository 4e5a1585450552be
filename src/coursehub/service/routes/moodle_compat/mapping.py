"""Where the plugin's names point in coursehub: its Moodle course ids to courses, its
contents paths (`<moodle course>/<activity>/<file>`) to files in the student's course
workspace (`moodle/<activity>/<file>`), its tokens to callers."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from coursehub.config.models import MoodleCompatConfig
from coursehub.courses.paths import PathRejected, check_relative_path
from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.routes.moodle_compat.credentials import (
    CompatConfigError,
    CompatRefused,
    CompatSecrets,
    check_api_token,
    load_secrets,
    user_of_token,
)

WORKSPACE_FOLDER = "moodle"  # the plugin's files, inside the course workspace
ASSIGNMENT_PREFIX = "moodle+"  # assignments kept apart from hub-made and remote-API ones
MAX_PATH_CHARS = 400


def section(app: Any) -> MoodleCompatConfig:
    return context_of(app).settings.grading.moodle_compat


def secrets_of(app: Any) -> CompatSecrets:
    """Read once; a bad secret file fails every request with 500 and a logged reason."""
    state = context_of(app).__dict__
    if "_moodle_secrets" not in state:
        state["_moodle_secrets"] = load_secrets(section(app))
    return state["_moodle_secrets"]


def _enabled(request: Request) -> CompatSecrets:
    if not section(request.app).enabled:
        raise ApiError(404, "There is nothing at this address.")
    try:
        return secrets_of(request.app)
    except CompatConfigError as exc:
        raise ApiError(
            500, f"The Moodle plugin's settings on this site are broken: {exc}"
        ) from None


def plugin_server(request: Request) -> None:
    """Dependency of the plugin's server-side hub calls: its API token, else 401/404."""
    secrets = _enabled(request)
    try:
        check_api_token(request.headers.get("authorization"), secrets)
    except CompatRefused as exc:
        raise ApiError(401, str(exc), exc.code) from None


def token_user(request: Request, token: str | None) -> str:
    """The Moodle user a plugin JWT names, else 401/404."""
    secrets = _enabled(request)
    try:
        return user_of_token(token, secrets)
    except CompatRefused as exc:
        raise ApiError(401, str(exc), exc.code) from None


def plugin_user(request: Request) -> str:
    """Dependency of the gradeservice calls: the Moodle user the plugin's JWT in
    `Authorization` names (sent bare, as the plugin does, or after 'Bearer')."""
    return token_user(request, request.headers.get("authorization"))


def course_of(request: Request, moodle_course: str) -> str:
    """The coursehub course a Moodle course id is mapped to, else 404 saying how to map it."""
    course = section(request.app).courses.get(moodle_course)
    if course is None or not moodle_course.isdigit():
        shown = moodle_course[:20]
        raise ApiError(
            404,
            f"Moodle course {shown!r} is not linked to a coursehub course: add it to "
            f"grading.moodle_compat.courses in coursehub.yaml (e.g. '{shown}': ds101).",
        )
    if context_of(request.app).courses.get(course) is None:
        raise ApiError(404, f"Moodle course {moodle_course} is linked to {course!r}, "
                            "which is not a coursehub course; add it first.")  # fmt: skip
    return course


def checked_user(name: str) -> str:
    """A username from a request path: the plugin lower-cases them; nothing else passes."""
    from coursehub.accounts.roster import validate_username

    if (problem := validate_username(name)) is not None or name != name.lower():
        raise ApiError(400, f"Not a coursehub username ({problem or 'use lower case'}).")
    return name


def require_plugin_account(request: Request, name: str) -> None:
    """The plugin's names are Moodle's: one opens only an account made by LMS links
    (method `jwt`, or linked to it), never a local, GitHub or LTI account that happens
    to have that name. Blocking (run it in a thread)."""
    from coursehub.accounts.signins import AccountSignIns

    methods = AccountSignIns(context_of(request.app).database).methods_of(name)
    if methods and "jwt" not in methods:
        raise ApiError(
            403,
            f"The account {name!r} signs in another way ({', '.join(methods)}), so the "
            f"Moodle user of that name cannot use it; if they are the same person, an admin "
            f"can link them: coursehub users link {name} jwt.",
        )


def split_contents_path(path: str) -> tuple[str, str]:
    """`<moodle course>/<rest>` → (moodle course, `moodle/<rest>` in the workspace)."""
    if len(path) > MAX_PATH_CHARS:
        raise ApiError(400, f"The path is longer than {MAX_PATH_CHARS} characters.")
    moodle_course, _, rest = path.strip("/").partition("/")
    inside = f"{WORKSPACE_FOLDER}/{rest}" if rest else WORKSPACE_FOLDER
    try:
        check_relative_path(inside)
    except PathRejected as exc:
        raise ApiError(400, f"This path cannot be used: {exc}.") from None
    return moodle_course, inside
