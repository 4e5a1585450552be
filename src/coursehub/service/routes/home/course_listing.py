"""The courses a signed-in person sees on their home page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from coursehub.config.layout import DataLayout
from coursehub.courses.content import CourseContent, course_content


@dataclass(frozen=True)
class CourseView:
    content: CourseContent
    role: str

    @property
    def name(self) -> str:
        return self.content.name


def courses_for(store: Any, layout: DataLayout, username: str, site_role: str) -> list[CourseView]:
    """Enrolled courses (site admins: every course), archived ones left out."""
    if site_role == "admin":
        pairs = [(c.name, "instructor") for c in store.list(include_archived=False)]
    else:
        pairs = [(e.course, e.role) for e in store.courses_of(username)]
    views = []
    for name, role in sorted(pairs):
        info = store.get(name)
        if info is None or info.archived:
            continue
        content = course_content(layout.course_repo(name), name, info.current_commit)
        views.append(CourseView(content, role))
    return views


def notebook_link(prefix: str, course: str, notebook: str) -> str:
    return f"{prefix}open/{quote(course)}/{quote(notebook)}"
