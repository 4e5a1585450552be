"""Course files placed in the workspace by the student's own server, as the student.

The same operations as courses/workspace.py runs in a child process with the student's
uid on hosts where students have Unix accounts; here the server does them itself, so
they work where the service has no account to switch to (containers, Kubernetes pods).
The rules are the same: a course file never replaces a file of the student's, nothing
follows a link the student left at the final name, and sizes are bounded.

`root` is the server's own root (the course workspace), `course_dir` where this server
sees the course's checkout (read-only).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import PurePosixPath

BLOCK = 65536
MAX_PATHS = 2000  # one course's notebooks, asked at once


class FilesError(Exception):
    """An operation was refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def relative(path: object, what: str = "path") -> str:
    """A clean relative path (the service checked it against the course; this keeps
    a request from anyone else inside the root too)."""
    if not isinstance(path, str) or not path or len(path) > 1024 or "\0" in path:
        raise FilesError(400, f"{what} must be a relative path")
    parts = PurePosixPath(path).parts
    if path.startswith("/") or "\\" in path or any(p in ("..", ".") for p in parts):
        raise FilesError(400, f"{what} {path[:100]!r} must stay inside the folder")
    return path


def _copy_new(source: str, dest: str) -> str | None:
    """Copy `source` to a new file `dest`; its sha256, or None if `dest` exists."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return None
    digest = hashlib.sha256()
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
        for block in iter(lambda: src.read(BLOCK), b""):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def copy_notebook(
    root: str, course_dir: str, source: object, path: object, mappings: Sequence[tuple[str, str]]
) -> str | None:
    """The course's `source` to root/`path` unless a file is there (None then, else its
    sha256); each (course folder, link name) of `mappings` becomes a link beside it."""
    dest = os.path.join(root, relative(path))
    origin = os.path.join(course_dir, relative(source, "source"))
    if not os.path.isfile(origin):
        raise FilesError(404, f"this server sees no {source!r} in the course at {course_dir}")
    copied = _copy_new(origin, dest)
    folder = os.path.dirname(dest)
    for target, name in mappings:
        link = os.path.join(folder, relative(name, "link name"))
        _link(os.path.join(course_dir, relative(target, "mapping")), link)
    return copied


def _link(target: str, link: str) -> None:
    """A link to `target` at `link`, unless something of the student's is there; a link
    there that leads nowhere (the course's folder moved) is renewed."""
    if not os.path.lexists(link):
        os.symlink(target, link)
    elif os.path.islink(link) and not os.path.exists(link):
        fresh = f"{link}.coursehub-{os.getpid()}"
        os.symlink(target, fresh)
        os.replace(fresh, link)


def _open_regular(path: str) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def hash_files(root: str, paths: Sequence[object]) -> dict[str, str | None]:
    """sha256 of each file (None where missing or not a regular file)."""
    if len(paths) > MAX_PATHS:
        raise FilesError(400, f"at most {MAX_PATHS} paths at once")
    out: dict[str, str | None] = {}
    for path in paths:
        name = relative(path)
        fd = _open_regular(os.path.join(root, name))
        if fd is None:
            out[name] = None
            continue
        digest = hashlib.sha256()
        with os.fdopen(fd, "rb") as f:
            for block in iter(lambda: f.read(BLOCK), b""):
                digest.update(block)
        out[name] = digest.hexdigest()
    return out


def read_file(root: str, path: object, limit: int) -> bytes:
    fd = _open_regular(os.path.join(root, relative(path)))
    if fd is None:
        raise FilesError(404, "this notebook is not in your workspace; open it first")
    with os.fdopen(fd, "rb") as f:
        if os.fstat(f.fileno()).st_size > limit:
            raise FilesError(413, f"your notebook is larger than {limit // (1024 * 1024)} MB")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FilesError(413, f"your notebook is larger than {limit // (1024 * 1024)} MB")
    return data


def reset_notebook(root: str, course_dir: str, source: object, path: object, kept: str) -> dict:
    """Move the student's file aside (to `kept`, or a numbered variant of it) and copy
    the course's `source` in: {"kept": name or None, "sha256": ...}."""
    dest = os.path.join(root, relative(path))
    origin = os.path.join(course_dir, relative(source, "source"))
    if not os.path.isfile(origin):
        raise FilesError(404, f"this server sees no {source!r} in the course at {course_dir}")
    if "/" in kept or kept in ("", ".", ".."):
        raise FilesError(400, "the kept name must be a file name")
    folder = os.path.dirname(dest)
    moved = None
    if os.path.lexists(dest):
        stem, dot, ext = kept.rpartition(".")
        for n in range(1, 1000):
            name = kept if n == 1 else f"{stem}-{n}{dot}{ext}"
            if not os.path.lexists(os.path.join(folder, name)):
                os.rename(dest, os.path.join(folder, name))
                moved = name
                break
        else:
            raise FilesError(409, "too many earlier versions are kept beside this notebook")
    copied = _copy_new(origin, dest)
    if copied is None:
        raise FilesError(409, "the notebook reappeared while it was being reset; try again")
    return {"kept": moved, "sha256": copied}
