"""Which notebooks a course offers, grouped into tracks and sections.

Globs from course.yaml are matched against one walk of the checkout that skips
hidden directories and never leaves the repository through a symlink.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path, PurePosixPath

from coursehub.courses.manifest import CourseManifest
from coursehub.courses.paths import PathRejected, safe_relative_path

HEADER_BYTES = 4096
DEFAULT_TRACK = "default"
_HEADER_KEY = re.compile(r"^\s*(jupytext|kernelspec)\s*:")
_PERCENT_CELL = re.compile(r"^#\s*%%")


@dataclass(frozen=True)
class Section:
    title: str
    notebooks: list[str]  # relative posix paths, sorted
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
    files = _visible_files(Path(repo))
    notebooks = _NotebookFilter(Path(repo))
    if not manifest.tracks:
        return [_default_track(sorted(f for f in files if notebooks(f)), manifest.title)]
    tracks = []
    for spec in manifest.tracks:
        sections = []
        for section in spec.sections:
            found: set[str] = set()
            unmatched = []
            for pattern in section.notebooks:
                matched = {f for f in files if _glob_match(pattern, f) and notebooks(f)}
                if not matched:
                    unmatched.append(pattern)
                found |= matched
            sections.append(Section(section.title, sorted(found), unmatched))
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


def _visible_files(repo: Path) -> list[str]:
    """Relative posix paths of regular files, skipping hidden names and escaping links."""
    if not repo.is_dir():
        return []
    found = []
    # followlinks=False: a symlinked directory is never entered, wherever it points.
    for folder, dirs, names in os.walk(repo, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(folder)
        for name in names:
            path = base / name
            if name.startswith(".") or not path.is_file():
                continue
            relative = path.relative_to(repo).as_posix()
            if path.is_symlink() and not _link_is_safe(repo, relative):
                continue
            found.append(relative)
    return found


def _link_is_safe(repo: Path, relative: str) -> bool:
    try:
        safe_relative_path(repo, relative)  # same rule as when the file is opened
    except PathRejected:
        return False
    return True


class _NotebookFilter:
    """is_notebook with a cache, so each file's header is read at most once."""

    def __init__(self, repo: Path):
        self._repo = repo
        self._seen: dict[str, bool] = {}

    def __call__(self, relative: str) -> bool:
        if relative not in self._seen:
            self._seen[relative] = is_notebook(self._repo / relative)
        return self._seen[relative]


def _glob_match(pattern: str, relative: str) -> bool:
    return _match_parts(tuple(pattern.split("/")), tuple(relative.split("/")))


@lru_cache(maxsize=4096)
def _match_parts(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    # '*', '?' and '[..]' stay within one component; '**' spans zero or more.
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_parts(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _match_parts(rest, parts[1:])
