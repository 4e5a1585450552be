"""A course's content at one commit: manifest, tracks and notebook hashes, cached.

Pages ask for this on every view; reading course.yaml and walking the checkout is
done once per commit instead (a pull changes the commit and so the cache key).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from coursehub.core.errors import CoursehubError
from coursehub.courses.manifest import CourseManifest, load_manifest
from coursehub.courses.paths import PathRejected, safe_relative_path
from coursehub.courses.progress import file_sha256
from coursehub.courses.tracks import Track, resolve_tracks

log = logging.getLogger("coursehub.courses")

CACHE_SIZE = 64


@dataclass
class CourseContent:
    name: str
    commit: str | None
    repo: Path
    title: str
    description: str
    tracks: list[Track]
    manifest: CourseManifest | None
    problem: str = ""  # shown instead of the tracks when the manifest is broken
    _hashes: dict[str, str | None] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def notebooks(self) -> list[str]:
        return sorted({nb for t in self.tracks for s in t.sections for nb in s.notebooks})

    def source_sha256(self, path: str) -> str | None:
        """sha256 of the course's version of `path` (None if it is not in the checkout)."""
        with self._lock:
            if path in self._hashes:
                return self._hashes[path]
        try:
            digest: str | None = file_sha256(safe_relative_path(self.repo, path))
        except (PathRejected, OSError):
            digest = None
        if self.commit is not None:  # without a commit the files may change under us
            with self._lock:
                self._hashes[path] = digest
        return digest


_cache: OrderedDict[tuple[str, str], CourseContent] = OrderedDict()
_cache_lock = threading.Lock()


def course_content(repo: Path, name: str, commit: str | None) -> CourseContent:
    """The content of course `name` checked out at `repo`, at `commit` (cached)."""
    key = (str(repo), commit or "")
    if commit:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    content = _load(repo, name, commit)
    if commit:
        with _cache_lock:
            _cache[key] = content
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return content


def _load(repo: Path, name: str, commit: str | None) -> CourseContent:
    try:
        manifest = load_manifest(repo, name)
        tracks = resolve_tracks(repo, manifest)
    except CoursehubError as exc:
        log.warning("course %s: %s", name, exc)
        return CourseContent(
            name, commit, repo, name, "", [], None, "This course's manifest has errors."
        )
    return CourseContent(name, commit, repo, manifest.title, manifest.description, tracks, manifest)
