"""Notebooks the plugin placed before the student ever opened the course.

Files are written as the student, and a student's Unix account (local backend) exists
once their course server has started for the first time. Until then the plugin's file
waits here, in a root-only folder of the data directory, and the first open (signin.py,
with the student signed in and their course server running) moves it into the
workspace as the student, never over a file the student already has there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from coursehub.courses.workspace import Student, hash_files
from coursehub.courses.workspace_files import write_file

FOLDER = "moodle-pending"


def pending_root(data_dir: Path) -> Path:
    root = Path(data_dir) / FOLDER
    root.mkdir(mode=0o700, exist_ok=True)
    os.chmod(root, 0o700)  # the data directory itself is open to students
    return root


def pending_file(data_dir: Path, user: str, course: str, inside: str) -> Path:
    """Where a file waits (names and path were checked by mapping.py)."""
    return pending_root(data_dir) / user / course / inside


def put(data_dir: Path, user: str, course: str, inside: str, data: bytes) -> None:
    target = pending_file(data_dir, user, course, inside)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.part")
    temporary.write_bytes(data)
    temporary.replace(target)


def place(data_dir: Path, user: str, course: str, student: Student, workspace: Path) -> int:
    """Move the user's waiting files of `course` into their workspace, as the student;
    a file the student already has stays theirs. The number of files moved."""
    folder = pending_root(data_dir) / user / course
    if not folder.is_dir():
        return 0
    waiting = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink() and not p.name.startswith(".")
    ]
    moved = 0
    for path in waiting:
        inside = path.relative_to(folder).as_posix()
        if hash_files(student, workspace, [inside]).get(inside) is None:
            write_file(student, workspace, inside, path.read_bytes())
            moved += 1
        path.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    return moved
