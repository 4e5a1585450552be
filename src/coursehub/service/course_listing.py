"""The courses a signed-in person sees on their page: tracks, sections, notebook links."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..config.layout import DataLayout
from ..courses.manifest import load_manifest
from ..courses.tracks import Track, resolve_tracks
from ..errors import CoursehubError

log = logging.getLogger("coursehub.service")


@dataclass(frozen=True)
class CourseView:
    name: str
    title: str
    description: str
    role: str
    tracks: list[Track]
    problem: str = ""  # shown instead of the tracks when the manifest is broken


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
        repo = layout.course_repo(name)
        try:
            manifest = load_manifest(repo, name)
            tracks = resolve_tracks(repo, manifest)
        except CoursehubError as exc:
            log.warning("course %s: %s", name, exc)
            views.append(CourseView(name, name, "", role, [], "This course's manifest has errors."))
            continue
        views.append(CourseView(name, manifest.title, manifest.description, role, tracks))
    return views


def notebook_link(prefix: str, course: str, notebook: str) -> str:
    return f"{prefix}open/{quote(course)}/{quote(notebook)}"
