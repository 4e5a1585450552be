"""Whether other accounts can reach a folder.

Student servers and kernels, and the account that builds course environments, run as
accounts of their own: to open anything under the data directory, every folder from
``/`` down to it must let others through (the ``x`` bit for others). A data directory
inside a 0700 folder (root's home, a clone made in ``mktemp -d``) is out of their
reach whatever its own mode, and they fail with a bare "Permission denied".
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def closed_folders(path: Path) -> list[Path]:
    """The folders on the way to `path` (itself included) that others cannot traverse,
    from the top; empty when all are open. Links are resolved first (the real folders
    are the ones traversed); folders not made yet are skipped."""
    real = Path(os.path.realpath(path))
    closed = []
    for folder in [*reversed(real.parents), real]:
        try:
            mode = folder.stat().st_mode
        except OSError:
            break  # not made yet: nothing below exists either
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            closed.append(folder)
    return closed


def unreachable_message(what: str, closed: list[Path], who: str) -> str:
    """Say that `what` (a folder under the data directory, or that directory) is out of
    `who`'s reach because of the `closed` folders, and both ways to fix it."""
    names = " ".join(str(p) for p in closed)
    return (
        f"{what} is not reachable by {who}: {names} "
        f"{'is' if len(closed) == 1 else 'are'} closed to other accounts. Move the data "
        "directory (site.data_dir) to a folder every account can traverse (such as "
        f"/srv/coursehub), or make the folders on the way searchable: chmod o+x {names}"
    )
