"""Which notebooks a course offers, grouped into tracks and sections.

Globs from course.yaml are matched against one walk of the checkout that skips
hidden directories and never leaves the repository through a symlink.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from coursehub.courses.manifest import CourseManifest
from coursehub.courses.repo_files import glob_match, visible_files

HEADER_BYTES = 4096
DEFAULT_TRACK = "default"
_HEADER_KEY = re.compile(r"^\s*(jupytext|kernelspec)\s*:")
_PERCENT_CELL = re.compile(r"^#\s*%%")


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


def is_notebook(path: Path) -> bool:
    """An .ipynb file, or a Jupytext/MyST .md or percent-format .py with its header.

    Only the first 4 KB are read: the header is at the top or the file is plain text.
    """
    suffix = path.suffix.lower()
    if suffix not in {".ipynb", ".md", ".py"} or not path.is_file():
        return False
    if suffix == ".ipynb":
        return True
    try:
        with path.open("rb") as f:
            head = f.read(HEADER_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False
    lines = head.removeprefix("\ufeff").splitlines()
    if suffix == ".md":
        return _front_matter_names_notebook(lines, prefix="")
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]  # jupytext keeps a shebang above the header
    return _front_matter_names_notebook(lines, prefix="#") and (
        "format_name: percent" in head or any(_PERCENT_CELL.match(line) for line in lines)
    )


def _front_matter_names_notebook(lines: list[str], prefix: str) -> bool:
    # Header: "---" ... "---" (in .py every line commented with "# ").
    def strip(line: str) -> str:
        return line[len(prefix) :].strip() if line.startswith(prefix) else "\0"

    if not lines or strip(lines[0]) != "---":
        return False
    found = False
    for line in lines[1:]:
        text = strip(line)
        if text == "---":
            return found
        if text == "\0":
            return False
        found = found or bool(_HEADER_KEY.match(line[len(prefix) :]))
    return False  # header not closed within the first 4 KB


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
