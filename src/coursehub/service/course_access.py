"""Shared by the course pages and links: stores, the student's files, who may do what."""

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


def student_of(request: Request, username: str) -> Student:
    settings = context_of(request.app).settings
    if settings.spawn_backend == "demo":
        return demo_student(Path(settings.demo_home_root), username)
    return local_student(f"{settings.user_prefix}{username}")


def course_role(store: Any, user: HubUser, course: str) -> str | None:
    """`user`'s role in `course` (site admins act as instructors), or None."""
    role = store.role_of(course, user.name)
    return role or ("instructor" if user.role == "admin" else None)


def course_for(request: Request, user: HubUser, course: str) -> tuple[CourseContent, str]:
    """The course's content and the caller's role in it; 404 for unknown courses and
    for courses the caller is not in (their existence is nobody else's business)."""
    store = context_of(request.app).courses
    info = store.get(course)
    role = course_role(store, user, course) if info is not None else None
    if info is None or role is None:
        raise ApiError(404, f"There is no course called {course!r} that you are enrolled in.")
    content = course_content(
        context_of(request.app).layout.course_repo(course), course, info.current_commit
    )
    return content, role
