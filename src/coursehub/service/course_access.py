"""Who may see what of a course: the one check every course page, API and link makes,
and the stores and the student's files they share.

"Not yours" has one answer, decided here:
- a course the caller is not in answers **404**, exactly as a course that does not
  exist (same status, same message): whether a course exists, and what it holds, is
  nobody else's business;
- a member whose role may not do something answers **403**, saying who may (they
  know the course exists; the message tells them the refusal is about their role).

Every route that names a course calls `course_for` (pages: the course's content and
the caller's role) or `require_role` (APIs: the role only) with the roles it admits;
nothing checks course roles by hand. tests/security/test_course_access.py probes
every course route of the app's routers as a student of another course.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request

from coursehub.courses.content import CourseContent, course_content
from coursehub.courses.workspace import Student, demo_student, local_student
from coursehub.service.context import context_of
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser

STAFF_ROLES = ("instructor", "ta")
ANY_ROLE = ("instructor", "ta", "student")
INSTRUCTORS = ("instructor",)
_WHO = {
    STAFF_ROLES: "the course's instructors and teaching assistants",
    INSTRUCTORS: "the course's instructors",
}


def student_of(request: Request, username: str) -> Student:
    return host_student(context_of(request.app).settings, username)


def host_student(settings: Any, username: str) -> Student:
    """`username`'s files and account on this machine (local, Slurm, demo backends)."""
    if settings.spawn_backend == "demo":
        return demo_student(Path(settings.demo_home_root), username)
    return local_student(f"{settings.user_prefix}{username}")


def course_role(store: Any, user: HubUser, course: str) -> str | None:
    """`user`'s role in `course` (site admins act as instructors), or None. Says
    nothing about whether the course exists: use `require_role` to admit a caller."""
    role = store.role_of(course, user.name)
    return role or ("instructor" if user.role == "admin" else None)


def not_yours(course: str) -> ApiError:
    """The answer for a course that does not exist or that the caller is not in."""
    return ApiError(404, f"There is no course called {course!r} that you are enrolled in.")


def require_role(
    store: Any, user: HubUser, course: str, allowed: tuple[str, ...] = ANY_ROLE
) -> str:
    """The caller's role in `course` if it is one of `allowed`; else 404 (not a member,
    or no such course) or 403 (a member whose role is not allowed)."""
    role = course_role(store, user, course) if store.get(course) is not None else None
    if role is None:
        raise not_yours(course)
    if role not in allowed:
        who = _WHO.get(allowed, "other members of the course")
        raise ApiError(403, f"Only {who} may do this; you are a {role} of {course!r}.")
    return role


def course_for(
    request: Request, user: HubUser, course: str, allowed: tuple[str, ...] = ANY_ROLE
) -> tuple[CourseContent, str]:
    """The course's content and the caller's role in it, checked by `require_role`."""
    store = context_of(request.app).courses
    role = require_role(store, user, course, allowed)
    info = store.get(course)
    if info is None:  # removed in between
        raise not_yours(course)
    content = course_content(
        context_of(request.app).layout.course_repo(course), course, info.current_commit
    )
    return content, role
