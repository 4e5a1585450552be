"""What opening a course notebook link does, whoever handles the link (the coursehub
service, or the hub when the student is not signed in to the service yet): check the
notebook, and the read-only folders and in-repository links placed beside its copy."""

from __future__ import annotations

from pathlib import Path

from coursehub.courses.manifest import load_manifest
from coursehub.courses.paths import safe_relative_path
from coursehub.courses.repo_links import links_beside
from coursehub.courses.tracks import is_notebook


def course_notebook(repo: Path, path: str) -> Path | None:
    """The checkout's notebook at `path`, or None when there is none. PathRejected when
    `path` leaves the checkout."""
    source = safe_relative_path(repo, path)
    return source if source.is_file() and is_notebook(source) else None


def notebook_mappings(course: str, repo: Path, notebook: str) -> list[tuple[str, str]]:
    """The course's read-only mappings and the in-repository links beside `notebook`,
    as (folder in the checkout, link name), each checked to stay inside the checkout."""
    manifest = load_manifest(repo, course)
    for m in manifest.mappings:
        safe_relative_path(repo, m.source)
    real_repo = repo.resolve()
    beside = links_beside(repo, notebook)  # the checkout's own links next to the notebook
    found = [(m.source, m.target) for m in manifest.mappings]
    return found + [(str(real.relative_to(real_repo)), name) for real, name in beside]
