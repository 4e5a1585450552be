"""Putting course files into a student's workspace, as that student.

The copy runs in a child process with the student's uid and gid: whatever a
student has put in their workspace (a symlink to /etc, say) can only ever lead
to files the student could write anyway. Existing files are never overwritten.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import CoursehubError

COPY_TIMEOUT = 60

# Runs as the student: argv = workspace, source, relative destination, then
# pairs of (mapping source, mapping target).
_COPY_SCRIPT = r"""
import os, shutil, sys
workspace, source, rel = sys.argv[1:4]
links = sys.argv[4:]
os.makedirs(workspace, mode=0o700, exist_ok=True)
dest = os.path.join(workspace, rel)
os.makedirs(os.path.dirname(dest), exist_ok=True)
copied = False
try:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
except FileExistsError:
    pass
else:
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out)
    copied = True
folder = os.path.dirname(dest)
for target, name in zip(links[::2], links[1::2]):
    link = os.path.join(folder, name)
    if not os.path.lexists(link):
        os.symlink(target, link)
print("copied" if copied else "kept")
"""


class WorkspaceError(CoursehubError):
    """Copying into a student's workspace failed (the message says why)."""


@dataclass(frozen=True)
class Student:
    """Where a student's files are and which account owns them."""

    home: Path
    uid: int | None  # None: demo mode, files stay with the account running coursehub
    gid: int | None


def local_student(unix_name: str) -> Student:
    try:
        entry = pwd.getpwnam(unix_name)
    except KeyError:
        raise WorkspaceError(f"there is no Unix account {unix_name!r} yet") from None
    return Student(Path(entry.pw_dir), entry.pw_uid, entry.pw_gid)


def copy_notebook(
    student: Student,
    workspace: Path,
    source: Path,
    relative: str,
    mappings: list[tuple[Path, str]] = (),  # type: ignore[assignment]
) -> bool:
    """Copy `source` to workspace/relative unless it is there; True if copied.

    `mappings` are (absolute source in the course checkout, link name) pairs: each
    becomes a symlink beside the notebook, pointing into the read-only checkout.
    """
    args = [str(workspace), str(source), relative]
    for target, name in mappings:
        args += [str(target), name]
    kwargs: dict = {}
    if student.uid is not None:
        kwargs = {"user": student.uid, "group": student.gid, "extra_groups": []}
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-c", _COPY_SCRIPT, *args],
            capture_output=True,
            text=True,
            timeout=COPY_TIMEOUT,
            env={"PATH": "/usr/bin:/bin", "HOME": str(student.home)},
            cwd="/",
            umask=0o077,
            **kwargs,
        )
    except subprocess.TimeoutExpired:
        raise WorkspaceError("copying the notebook took too long") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise WorkspaceError(f"could not copy the notebook into your workspace: {last}")
    return result.stdout.strip() == "copied"


def demo_student(home_root: Path, username: str) -> Student:
    return Student(home_root / username, None, None)


def ensure_demo_home(student: Student) -> None:
    os.makedirs(student.home, mode=0o700, exist_ok=True)
