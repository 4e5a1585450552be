"""Which notebooks a course offers, grouped into tracks and sections.

Globs from course.yaml are matched against one walk of the checkout that skips
hidden directories and never leaves the repository through a symlink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from coursehub.courses.manifest import CourseManifest
from coursehub.courses.repo_files import glob_match, is_notebook, visible_files

__all__ = ["DEFAULT_TRACK", "Section", "Track", "all_notebooks", "is_notebook", "resolve_tracks"]

DEFAULT_TRACK = "default"


@dataclass(frozen=True)
class Section:
    title: str
    # relative posix paths: each pattern's matches sorted, in the order of the patterns
    notebooks: list[str]
    unmatched: list[str] = field(default_factory=list)  # patterns that found no notebook


@dataclass(frozen=True)
class Track:
    name: str
    title: str
    sections: list[Section]
    description: str = ""


def resolve_tracks(repo: Path, manifest: CourseManifest) -> list[Track]:
    """The manifest's tracks with globs expanded, or one default track by folder."""
    files = visible_files(Path(repo))
    notebooks = _NotebookFilter(Path(repo))
    if not manifest.tracks:
        return [_default_track(sorted(f for f in files if notebooks(f)), manifest.title)]
    tracks = []
    for spec in manifest.tracks:
        sections = []
        for section in spec.sections:
            found: dict[str, None] = {}  # ordered: a table of contents lists in order
            unmatched = []
            for pattern in section.notebooks:
                matched = sorted(f for f in files if glob_match(pattern, f) and notebooks(f))
                if not matched:
                    unmatched.append(pattern)
                found.update(dict.fromkeys(matched))
            sections.append(Section(section.title, list(found), unmatched))
        tracks.append(Track(spec.name, spec.title or spec.name, sections, spec.description))
    return tracks


def all_notebooks(repo: Path, manifest: CourseManifest) -> list[str]:
    """Every notebook listed in any track, sorted and without duplicates."""
    tracks = resolve_tracks(repo, manifest)
    return sorted({nb for t in tracks for s in t.sections for nb in s.notebooks})


def _default_track(notebooks: list[str], course_title: str) -> Track:
    by_folder: dict[str, list[str]] = {}
    for nb in notebooks:
        by_folder.setdefault(str(PurePosixPath(nb).parent), []).append(nb)
    # Root-level notebooks come first, titled by the course; then folders by path.
    sections = [
        Section(course_title if folder == "." else folder, nbs)
        for folder, nbs in sorted(by_folder.items(), key=lambda kv: (kv[0] != ".", kv[0]))
    ]
    return Track(DEFAULT_TRACK, course_title, sections)


class _NotebookFilter:
    """is_notebook with a cache, so each file's header is read at most once."""

    def __init__(self, repo: Path):
        self._repo = repo
        self._seen: dict[str, bool] = {}

    def __call__(self, relative: str) -> bool:
        if relative not in self._seen:
            self._seen[relative] = is_notebook(self._repo / relative)
        return self._seen[relative]
