"""Make the venv's Python reachable by student accounts, without changing the host.

Student servers run as the students, so every directory on the way to the
interpreter must be searchable (o+x) by them. On this machine the venv points at
a pyenv Python under /root, which is 0700: every spawn dies with "Permission
denied" before JupyterHub is even involved. Rather than chmod /root for the
whole machine (other people's tests run here too), the hub runs in a private
mount namespace where a tmpfs covers the blocking directory and only the needed
subtree is bound back. Its children (proxy, student servers) inherit it; nothing
outside changes, and nothing needs undoing: the namespace dies with its processes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .procs import TargetError

_SCRIPT = """\
set -e
mount --bind "$1" "$2"
mount -t tmpfs -o mode=0755,size=1m tmpfs "$3"
mkdir "$1"
mount --bind "$2" "$1"
umount "$2"
shift 3
exec "$@"
"""


def blocking_dirs(path: Path) -> list[Path]:
    """Ancestors of path that other users cannot search."""
    out = []
    for d in reversed(path.parents):
        try:
            mode = d.stat().st_mode
        except OSError:
            continue
        if not mode & stat.S_IXOTH:
            out.append(d)
    return out


def wrapper(paths: list[Path], stage: Path) -> tuple[list[str], str | None]:
    """argv prefix that runs a command where all paths are reachable, and a note why.

    ([], None) when nothing blocks. Handles one blocking directory, which is what
    a Python under someone's home gives; more than that is left to the operator.
    """
    blocked = {d: p for p in paths for d in blocking_dirs(Path(os.path.realpath(p)))}
    if not blocked:
        return [], None
    if len(blocked) > 1:
        dirs = ", ".join(str(d) for d in blocked)
        raise TargetError(f"student accounts cannot reach the venv's Python through {dirs}")
    ((top, target),) = blocked.items()
    keep = top / Path(os.path.realpath(target)).relative_to(top).parts[0]
    stage.mkdir(mode=0o700)
    note = (
        f"{top} is not searchable by other users, so student servers could not start "
        f"{target}; running the hub in a private mount namespace where {top} shows "
        f"only {keep} (the host is unchanged)"
    )
    argv = ["unshare", "--mount", "--", "/bin/sh", "-c", _SCRIPT, "sh"]
    return [*argv, str(keep), str(stage), str(top)], note
