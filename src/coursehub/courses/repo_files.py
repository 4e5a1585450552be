"""The files of a course checkout as tracks see them, and the glob rule they match with.

One walk that skips hidden names and never leaves the repository through a symlink;
globs where '*', '?' and '[..]' stay within one path component and '**' spans any
number of them. Shared by course.yaml tracks and the formats read from other systems.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

from coursehub.courses.paths import PathRejected, safe_relative_path


def visible_files(repo: Path) -> list[str]:
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
            if path.is_symlink() and not link_is_safe(repo, relative):
                continue
            found.append(relative)
    return found


def link_is_safe(repo: Path, relative: str) -> bool:
    try:
        safe_relative_path(repo, relative)  # same rule as when the file is opened
    except PathRejected:
        return False
    return True


def glob_match(pattern: str, relative: str) -> bool:
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
