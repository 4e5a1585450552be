"""Folders a student can write, handled by root without following links.

Root must never act by path inside a folder a student can write: between root's
check and root's use, the student can swap any name on the way for a symbolic link
(rename(2), or renameat2 with RENAME_EXCHANGE, which leaves no instant without one of
the two names) and send root's chown, write or chdir wherever the link points.

So every step here opens one name relative to the descriptor of the folder above it,
with O_NOFOLLOW, starting from an anchor only root can change (the home root, a home
whose parent is root's, the data directory). A link anywhere on the way fails that
step instead of being followed, and ownership and modes are set on the descriptor
(fchown, fchmod), never by name.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from coursehub.core.errors import CoursehubError

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOT_A_FOLDER = (errno.ELOOP, errno.ENOTDIR)


class UnsafePathError(CoursehubError):
    """A name on the way was a symbolic link or not a folder: nothing was done there."""


def _refuse(shown: str, what: str = "a symbolic link or not a folder") -> UnsafePathError:
    return UnsafePathError(
        f"{shown} is {what}; coursehub does not follow links there. "
        f"Remove or rename {shown} and try again."
    )


def check_name(name: str) -> str:
    """`name` is one plain entry of a folder (no '/', not '.' or '..')."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise UnsafePathError(f"{name!r} is not a plain file or folder name")
    return name


def parts_below(top: Path, path: Path) -> list[str]:
    """The names from `top` down to `path`, which must lie below (or be) `top`."""
    try:
        rel = PurePosixPath(path).relative_to(PurePosixPath(top))
    except ValueError:
        raise UnsafePathError(f"{path} is not inside {top}") from None
    return [check_name(p) for p in rel.parts]


def open_dir(path: Path) -> int:
    """A descriptor of the anchor folder `path`: it and the folders above it must be
    ones only root can change, so links there (the admin's) are followed."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in _NOT_A_FOLDER:
            raise _refuse(str(path)) from None
        raise


def open_dir_at(dir_fd: int, name: str, shown: str = "") -> int:
    """A descriptor of the folder `name` inside the folder `dir_fd`, never through a link."""
    try:
        return os.open(check_name(name), DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in _NOT_A_FOLDER:
            raise _refuse(shown or name) from None
        raise


def open_below(anchor: Path, parts: Sequence[str]) -> int:
    """A descriptor of anchor/parts[0]/parts[1]/..., no link followed below `anchor`."""
    fd = open_dir(anchor)
    shown = anchor
    try:
        for name in parts:
            shown = shown / name
            inner = open_dir_at(fd, name, str(shown))
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_dir_at(
    dir_fd: int,
    name: str,
    mode: int,
    owner: tuple[int, int] | None = None,
    shown: str = "",
) -> int:
    """Open the folder `name` in `dir_fd`, making it first when it is missing.

    A folder made here gets `mode` and, when given, `owner` (uid, gid), both set on
    its descriptor. An existing folder is used as it is; a link is refused."""
    made = True
    try:
        os.mkdir(check_name(name), mode, dir_fd=dir_fd)
    except FileExistsError:
        made = False
    fd = open_dir_at(dir_fd, name, shown)
    try:
        # Only a folder still owned by us is the one just made (the student may have
        # swapped in one of their own meanwhile: theirs already).
        if made and os.fstat(fd).st_uid == os.geteuid():
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_dirs_below(
    anchor: Path, parts: Sequence[str], mode: int, owner: tuple[int, int] | None = None
) -> int:
    """make_dir_at for each of `parts` in turn below `anchor`; the last one's descriptor."""
    fd = open_dir(anchor)
    shown = anchor
    try:
        for name in parts:
            shown = shown / name
            inner = make_dir_at(fd, name, mode, owner, str(shown))
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def closing_fd(fd: int) -> Iterator[int]:
    """`with closing_fd(open_below(...)) as fd:` closes the descriptor afterwards."""
    try:
        yield fd
    finally:
        os.close(fd)


def walk_folders(top: Path) -> Iterator[tuple[int, list[str]]]:
    """Each folder of the tree at `top` (top first) as (descriptor, sorted names).

    A folder is listed only through a descriptor checked to be the folder seen in its
    parent's listing, so a folder swapped for a link (anywhere on its path) is left
    out rather than followed. Act on the names through the descriptor (dir_fd=...,
    follow_symlinks=False); it is closed when the next folder is asked for."""
    stack = [(top, os.lstat(top))]
    while stack:
        path, seen = stack.pop()
        try:
            fd = os.open(path, DIR_FLAGS)
        except OSError:
            continue  # removed, or no longer a folder
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (seen.st_dev, seen.st_ino):
                continue
            names = sorted(os.listdir(fd))
            yield fd, names
            for name in reversed(names):
                try:
                    child = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(child.st_mode):
                    stack.append((path / name, child))
        finally:
            os.close(fd)


def chown_tree(top: Path, uid: int, gid: int, clear_setid: bool = False) -> None:
    """Give `top` and everything in it to uid:gid; links are changed themselves, never
    followed, and nothing outside the tree is reached. `clear_setid` also drops every
    setuid and setgid bit (a chown clears them on executables only, not on folders or
    on a setgid file without group execute)."""
    os.chown(top, uid, gid, follow_symlinks=False)
    if clear_setid:
        _clear_setid_at(None, str(top))
    for fd, names in walk_folders(top):
        for name in names:
            try:
                os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
                if clear_setid:
                    _clear_setid_at(fd, name)
            except FileNotFoundError:
                continue


def _clear_setid_at(dir_fd: int | None, name: str) -> None:
    mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    if not mode & (stat.S_ISUID | stat.S_ISGID):
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return  # a device or pipe: opening it could block or act; setid means nothing there
    # chmod by name follows links: open the entry itself, refusing a link put in its place
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
    finally:
        os.close(fd)
