"""Reading and writing a student's course workspace, always as that student.

Every operation runs in a child process with the student's uid and gid: whatever a
student has put in their workspace (a symlink to /etc/shadow, say) can only ever
lead to files the student could read or write anyway. Course files are never
copied over a student's own file.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from coursehub.core.errors import CoursehubError

TIMEOUT = 60
MAX_READ_BYTES = 20 * 1024 * 1024  # a notebook to share; larger ones are refused

# Shared by the scripts below; runs as the student with an isolated interpreter.
_PRELUDE = r"""
import hashlib, json, os, stat, sys

def copy_new(source, dest):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return None
    digest = hashlib.sha256()
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
        for block in iter(lambda: src.read(65536), b""):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()

def link_mappings(folder, pairs):
    for target, name in zip(pairs[::2], pairs[1::2]):
        link = os.path.join(folder, name)
        if not os.path.lexists(link):
            os.symlink(target, link)
        elif os.path.islink(link) and not os.path.exists(link):
            # a link that leads nowhere (the site's data directory moved): renewed
            fresh = f"{link}.coursehub-{os.getpid()}"
            os.symlink(target, fresh)
            os.replace(fresh, link)
"""

# argv: workspace, source, relative destination, then (mapping target, link name) pairs.
# Prints the copied file's sha256, or "kept" when the student's own file was there.
_COPY = r"""
workspace, source, rel = sys.argv[1:4]
os.makedirs(workspace, mode=0o700, exist_ok=True)
dest = os.path.join(workspace, rel)
copied = copy_new(source, dest)
link_mappings(os.path.dirname(dest), sys.argv[4:])
print(copied or "kept")
"""

# argv: workspace, then relative paths. Prints {path: sha256 or null}.
_HASH = r"""
workspace = sys.argv[1]
out = {}
for rel in sys.argv[2:]:
    try:
        fd = os.open(os.path.join(workspace, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        out[rel] = None
        continue
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            out[rel] = None
            continue
        digest = hashlib.sha256()
        for block in iter(lambda: f.read(65536), b""):
            digest.update(block)
        out[rel] = digest.hexdigest()
print(json.dumps(out))
"""

# argv: workspace, relative path, byte limit. Writes the file to stdout; exit 3 if too big,
# 4 if missing or not a regular file.
_READ = r"""
workspace, rel, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    fd = os.open(os.path.join(workspace, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
except OSError:
    sys.exit(4)
st = os.fstat(fd)
if not stat.S_ISREG(st.st_mode):
    sys.exit(4)
if st.st_size > limit:
    sys.exit(3)
with os.fdopen(fd, "rb") as f:
    data = f.read(limit + 1)
if len(data) > limit:
    sys.exit(3)
sys.stdout.buffer.write(data)
"""

# argv: workspace, source, relative path, kept name. Moves the student's file aside (to
# the kept name, or a numbered variant), copies the course version in, prints
# {"kept": name or null, "sha256": ...}.
_RESET = r"""
workspace, source, rel, kept = sys.argv[1:5]
dest = os.path.join(workspace, rel)
folder = os.path.dirname(dest)
moved = None
if os.path.lexists(dest):
    stem, dot, ext = kept.rpartition(".")
    for n in range(1, 1000):
        name = kept if n == 1 else f"{stem}-{n}{dot}{ext}"
        target = os.path.join(folder, name)
        if not os.path.lexists(target):
            os.rename(dest, target)
            moved = name
            break
    else:
        sys.exit("too many earlier versions are kept beside this notebook")
copied = copy_new(source, dest)
if copied is None:
    sys.exit("the notebook reappeared while it was being reset; try again")
print(json.dumps({"kept": moved, "sha256": copied}))
"""


# argv: workspace, relative folder, max bytes, max files. Writes a tar of the folder's
# regular files (no links, devices or hidden names) to stdout; 4: no folder, 3: too big.
_COLLECT = r"""
import tarfile
workspace, rel, max_bytes, max_files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
top = os.path.join(workspace, rel)
if not os.path.isdir(top) or os.path.islink(top):
    sys.exit(4)
total, found = 0, []
for folder, dirs, names in os.walk(top):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    for name in sorted(names):
        path = os.path.join(folder, name)
        st = os.lstat(path)
        if name.startswith(".") or not stat.S_ISREG(st.st_mode):
            continue
        total += st.st_size
        found.append(path)
        if total > max_bytes or len(found) > max_files:
            sys.exit(3)
with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as tar:
    for path in found:
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
            info = tarfile.TarInfo(os.path.relpath(path, top))
            info.size = os.fstat(f.fileno()).st_size
            info.mode = 0o600
            tar.addfile(info, f)
"""

# argv: workspace, source folder, relative destination folder. Copies every file that
# is not there yet; prints {"copied": n, "kept": n}.
_RELEASE = r"""
workspace, source, rel = sys.argv[1:4]
os.makedirs(workspace, mode=0o700, exist_ok=True)
copied = kept = 0
for folder, dirs, names in os.walk(source):
    for name in names:
        src = os.path.join(folder, name)
        dest = os.path.join(workspace, rel, os.path.relpath(src, source))
        if copy_new(src, dest):
            copied += 1
        else:
            kept += 1
print(json.dumps({"copied": copied, "kept": kept}))
"""


class WorkspaceError(CoursehubError):
    """An operation on a student's workspace failed (the message says why)."""


@dataclass(frozen=True)
class Student:
    """Where a student's files are and which account owns them."""

    home: Path
    uid: int | None  # None: demo mode, files stay with the account running coursehub
    gid: int | None


@dataclass(frozen=True)
class ResetResult:
    kept_as: str | None  # the name the student's version now has, beside the notebook
    sha256: str  # of the fresh course copy


def local_student(unix_name: str) -> Student:
    try:
        entry = pwd.getpwnam(unix_name)
    except KeyError:
        raise WorkspaceError(f"there is no Unix account {unix_name!r} yet") from None
    return Student(Path(entry.pw_dir), entry.pw_uid, entry.pw_gid)


def demo_student(home_root: Path, username: str) -> Student:
    return Student(home_root / username, None, None)


def ensure_demo_home(student: Student) -> None:
    os.makedirs(student.home, mode=0o700, exist_ok=True)


def _run_as(
    student: Student, script: str, args: list[str], what: str
) -> subprocess.CompletedProcess[bytes]:
    kwargs: dict = {}
    if student.uid is not None:
        kwargs = {"user": student.uid, "group": student.gid, "extra_groups": []}
    try:
        return subprocess.run(
            [sys.executable, "-I", "-c", _PRELUDE + script, *args],
            capture_output=True,
            timeout=TIMEOUT,
            env={"PATH": "/usr/bin:/bin", "HOME": str(student.home)},
            cwd="/",
            umask=0o077,
            **kwargs,
        )
    except subprocess.TimeoutExpired:
        raise WorkspaceError(f"{what} took too long") from None


def _failed(result: subprocess.CompletedProcess[bytes], what: str) -> WorkspaceError:
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines() or ["unknown error"]
    return WorkspaceError(f"{what} failed: {lines[-1]}")


def copy_notebook(
    student: Student,
    workspace: Path,
    source: Path,
    relative: str,
    mappings: list[tuple[Path, str]] = (),  # type: ignore[assignment]
) -> str | None:
    """Copy `source` to workspace/relative unless it is there.

    Returns the sha256 of the copy, or None when the student's own file was kept.
    `mappings` are (absolute source in the course checkout, link name) pairs: each
    becomes a symlink beside the notebook, pointing into the read-only checkout.
    """
    args = [str(workspace), str(source), relative]
    for target, name in mappings:
        args += [str(target), name]
    what = "copying the notebook into your workspace"
    result = _run_as(student, _COPY, args, what)
    if result.returncode != 0:
        raise _failed(result, what)
    out = result.stdout.decode().strip()
    return None if out == "kept" else out


def hash_files(student: Student, workspace: Path, relatives: list[str]) -> dict[str, str | None]:
    """sha256 of each workspace file (None where missing or not a regular file)."""
    if not relatives:
        return {}
    what = "looking at your workspace"
    result = _run_as(student, _HASH, [str(workspace), *relatives], what)
    if result.returncode != 0:
        raise _failed(result, what)
    return json.loads(result.stdout)


def read_notebook(
    student: Student, workspace: Path, relative: str, limit: int = MAX_READ_BYTES
) -> bytes:
    what = "reading your notebook"
    result = _run_as(student, _READ, [str(workspace), relative, str(limit)], what)
    if result.returncode == 3:
        raise WorkspaceError(f"your notebook is larger than {limit // (1024 * 1024)} MB")
    if result.returncode == 4:
        raise WorkspaceError("this notebook is not in your workspace; open it first")
    if result.returncode != 0:
        raise _failed(result, what)
    return result.stdout


def kept_name(relative: str, stamp: str) -> str:
    """`intro.ipynb` → `intro.mine-<stamp>.ipynb`: where a reset keeps the student's file."""
    name = Path(relative).name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return f"{name}.mine-{stamp}"
    return f"{stem}.mine-{stamp}.{ext}"


def reset_notebook(
    student: Student, workspace: Path, source: Path, relative: str, stamp: str
) -> ResetResult:
    """Put the course version back; the student's version stays beside it, renamed."""
    what = "resetting the notebook"
    args = [str(workspace), str(source), relative, kept_name(relative, stamp)]
    result = _run_as(student, _RESET, args, what)
    if result.returncode != 0:
        raise _failed(result, what)
    answer = json.loads(result.stdout)
    return ResetResult(answer["kept"], answer["sha256"])


def collect_folder(
    student: Student, workspace: Path, relative: str, max_bytes: int, max_files: int = 500
) -> bytes:
    """A tar of the student's folder as they can read it (regular files only)."""
    what = "collecting your files"
    args = [str(workspace), relative, str(max_bytes), str(max_files)]
    result = _run_as(student, _COLLECT, args, what)
    if result.returncode == 4:
        raise WorkspaceError(f"there is no folder {relative} in your workspace; fetch it first")
    if result.returncode == 3:
        raise WorkspaceError(
            f"{relative} holds more than {max_bytes // (1024 * 1024)} MB or {max_files} files; "
            "remove what is not part of your work"
        )
    if result.returncode != 0:
        raise _failed(result, what)
    return result.stdout


def release_folder(student: Student, workspace: Path, source: Path, relative: str) -> dict:
    """Copy `source` into workspace/relative, never over the student's own files."""
    what = "copying the assignment into your workspace"
    result = _run_as(student, _RELEASE, [str(workspace), str(source), relative], what)
    if result.returncode != 0:
        raise _failed(result, what)
    return json.loads(result.stdout)
