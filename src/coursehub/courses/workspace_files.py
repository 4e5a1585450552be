"""Writing and renaming single files in a student's course workspace, as that student
(for LMS plugins that place an activity's notebook through the Jupyter contents API).

Like courses.workspace, every step runs in a child process with the student's uid:
a symlink the student planted can only lead where the student could write anyway.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from coursehub.courses.workspace import TIMEOUT, Student, WorkspaceError

MAX_WRITE_BYTES = 20 * 1024 * 1024

# argv: workspace, relative path. Content on stdin; parent folders made; the file is
# replaced atomically (a temporary name beside it, then rename).
_WRITE = r"""
import os, sys, tempfile
workspace, rel = sys.argv[1], sys.argv[2]
os.makedirs(workspace, mode=0o700, exist_ok=True)
dest = os.path.join(workspace, rel)
os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
if os.path.islink(dest) or os.path.isdir(dest):
    sys.exit("there is a folder or link with this name")
data = sys.stdin.buffer.read()
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".upload-")
with os.fdopen(fd, "wb") as f:
    f.write(data)
os.rename(tmp, dest)
"""

# argv: workspace, from, to. Exit 4 when `from` is missing, 5 when `to` exists.
_RENAME = r"""
import os, sys
workspace, old, new = sys.argv[1:4]
src, dest = os.path.join(workspace, old), os.path.join(workspace, new)
if not os.path.lexists(src):
    sys.exit(4)
if os.path.lexists(dest):
    sys.exit(5)
os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
os.rename(src, dest)
"""


class FileMissing(WorkspaceError):
    """The file to rename is not there."""


class FileExists(WorkspaceError):
    """The new name is taken."""


def _run(student: Student, script: str, args: list[str], data: bytes = b"") -> None:
    kwargs: dict = {}
    if student.uid is not None:
        kwargs = {"user": student.uid, "group": student.gid, "extra_groups": []}
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-c", script, *args],
            input=data,
            capture_output=True,
            timeout=TIMEOUT,
            env={"PATH": "/usr/bin:/bin", "HOME": str(student.home)},
            cwd="/",
            umask=0o077,
            **kwargs,
        )
    except subprocess.TimeoutExpired:
        raise WorkspaceError("writing to the workspace took too long") from None
    if result.returncode == 4:
        raise FileMissing("there is no such file in the workspace")
    if result.returncode == 5:
        raise FileExists("a file with the new name is already there")
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines() or ["unknown"]
        raise WorkspaceError(f"writing to the workspace failed: {lines[-1]}")


def write_file(student: Student, workspace: Path, relative: str, data: bytes) -> None:
    """Put `data` at workspace/relative (replacing what is there), as the student."""
    if len(data) > MAX_WRITE_BYTES:
        raise WorkspaceError(f"files are at most {MAX_WRITE_BYTES >> 20} MB")
    _run(student, _WRITE, [str(workspace), relative], data)


def rename_file(student: Student, workspace: Path, old: str, new: str) -> None:
    """Rename workspace/old to workspace/new, as the student; never over a file."""
    _run(student, _RENAME, [str(workspace), old, new])
