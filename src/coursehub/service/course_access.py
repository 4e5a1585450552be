"""Shared by the course pages and links: stores, the student's files, who may do what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import Request

from coursehub.config.layout import DataLayout
from coursehub.courses.content import CourseContent, course_content
from coursehub.courses.workspace import Student, demo_student, local_student
from coursehub.service.errors import ApiError
from coursehub.service.identity import HubUser

STAFF_ROLES = ("instructor", "ta")


def layout_of(request: Request) -> DataLayout:
    return DataLayout(Path(request.app.state.settings.data_dir))


def store_for(app: Any) -> Any:
    """The app's CourseStore, made on first use."""
    state = app.state
    if getattr(state, "course_store", None) is None:
        from coursehub.courses.store import CourseStore

        state.course_store = CourseStore(
            database_for(app), DataLayout(Path(state.settings.data_dir))
        )
    return state.course_store


def progress_for(app: Any) -> Any:
    """The app's ProgressStore (notebook copies), made on first use."""
    state = app.state
    if getattr(state, "progress_store", None) is None:
        from coursehub.courses.progress import ProgressStore

        state.progress_store = ProgressStore(database_for(app))
    return state.progress_store


def hub_api_client(app: Any) -> httpx.AsyncClient:
    """One client for the hub API for the app's lifetime (closed at shutdown): making
    one per request costs tens of ms of CPU on the event loop (TLS set-up)."""
    state = app.state
    if getattr(state, "hub_api_client", None) is None:
        https = state.settings.api_url.startswith("https:")
        state.hub_api_client = httpx.AsyncClient(timeout=10, verify=https)
    return state.hub_api_client


def database_for(app: Any) -> Any:
    state = app.state
    if getattr(state, "database", None) is None:
        from coursehub.db.session import Database

        state.database = Database(state.settings.database_url)
    return state.database


def student_of(request: Request, username: str) -> Student:
    settings = request.app.state.settings
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
    store = store_for(request.app)
    info = store.get(course)
    role = course_role(store, user, course) if info is not None else None
    if info is None or role is None:
        raise ApiError(404, f"There is no course called {course!r} that you are enrolled in.")
    content = course_content(layout_of(request).course_repo(course), course, info.current_commit)
    return content, role
