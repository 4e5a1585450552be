"""The files of a course checkout as tracks see them, and the glob rule they match with.

One walk that skips hidden names and never leaves the repository through a symlink;
globs where '*', '?' and '[..]' stay within one path component and '**' spans any
number of them. Shared by course.yaml tracks and the formats read from other systems.
"""

from __future__ import annotations

import os
import re
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

from coursehub.courses.paths import PathRejected, safe_relative_path

HEADER_BYTES = 4096
_HEADER_KEY = re.compile(r"^\s*(jupytext|kernelspec)\s*:")
_PERCENT_CELL = re.compile(r"^#\s*%%")


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
