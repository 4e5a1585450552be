"""Turn untrusted relative paths (HTTP requests, course manifests) into safe ones.

Everything copied for a student goes through here first: nothing may be read from
outside a course checkout, whatever the request or a symlink in the repository says.
Callers pass paths already URL-decoded exactly once; nothing here decodes again.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from coursehub.core.errors import CoursehubError

MAX_PATH_LENGTH = 1024
# Hidden folders other systems keep their course settings in (Binder, nbhosting): read
# by coursehub itself when named as such, never served to students.
CONFIG_FOLDERS = frozenset({".binder", ".nbhosting"})


class PathRejected(CoursehubError):
    """A requested path is unsafe; `reason` is short enough to show to the user."""

    def __init__(self, requested: str, reason: str):
        self.requested = requested
        self.reason = reason
        shown = requested if len(requested) <= 80 else requested[:77] + "..."
        super().__init__(f"{shown!r}: {reason}")


def check_relative_path(requested: str, hidden_ok: frozenset[str] = frozenset()) -> PurePosixPath:
    """Reject what is unsafe in the text alone, before the file system is consulted.

    `hidden_ok`: hidden names allowed as the first component (e.g. CONFIG_FOLDERS)."""
    if not isinstance(requested, str):
        raise PathRejected(repr(requested), "expected a path as text")
    # Length first, so the other checks never scan an attacker-sized string.
    if len(requested) > MAX_PATH_LENGTH:
        raise PathRejected(requested, f"longer than {MAX_PATH_LENGTH} characters")
    if not requested:
        raise PathRejected(requested, "empty path")
    if "\0" in requested:
        raise PathRejected(requested, "contains a NUL byte")
    if any(ord(c) < 32 or ord(c) == 127 for c in requested):
        raise PathRejected(requested, "contains a control character")
    if "\\" in requested:
        raise PathRejected(requested, "contains a backslash")
    if requested.startswith("/"):
        raise PathRejected(requested, "absolute path")
    for index, part in enumerate(requested.split("/")):
        if index == 0 and part in hidden_ok:
            continue
        if part == "":
            raise PathRejected(requested, "empty component (double or trailing '/')")
        if part == "..":
            raise PathRejected(requested, "'..' component")
        if part == ".":
            raise PathRejected(requested, "'.' component")
        if part.startswith("."):
            # .git, .ipynb_checkpoints, dotfiles: never part of what a course serves
            raise PathRejected(requested, f"hidden component {part!r}")
    return PurePosixPath(requested)


def safe_relative_path(root: Path, requested: str, hidden_ok: frozenset[str] = frozenset()) -> Path:
    """The real absolute path of `requested` under `root`, or PathRejected.

    The path need not exist; every symlink that does exist along it is followed and
    the result must still lie inside ``root.resolve()``. `hidden_ok`: hidden first
    components allowed, in the request and in where it leads.
    """
    relative = check_relative_path(requested, hidden_ok)
    real_root = Path(root).resolve()
    try:
        real = (real_root / relative).resolve()
    except (OSError, RuntimeError):  # symlink loop (RuntimeError before Python 3.13)
        raise PathRejected(requested, "symlink loop") from None
    if not _within(real_root, real):
        raise PathRejected(requested, "leads outside the allowed directory")
    parts = real.relative_to(real_root).parts
    if parts and parts[0] in hidden_ok:
        parts = parts[1:]
    if any(part.startswith(".") for part in parts):
        # a symlink to .git/config would otherwise hand out the remote's credentials
        raise PathRejected(requested, "leads to a hidden file")
    return real


def is_inside(root: Path, path: Path) -> bool:
    """Whether `path` (relative paths are taken from `root`) really lies inside `root`.

    Symlinks are followed on both sides; `root` itself counts as inside.
    """
    try:
        real_root = Path(root).resolve()
        real = (real_root / path).resolve()
    except (OSError, RuntimeError):
        return False
    return _within(real_root, real)


def _within(real_root: Path, real: Path) -> bool:
    return real == real_root or real_root in real.parents
