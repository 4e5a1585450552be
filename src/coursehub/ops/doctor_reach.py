"""`coursehub doctor`: whether student accounts can reach the data directory."""

from __future__ import annotations

from coursehub.config.layout import DataLayout
from coursehub.core.reach import closed_folders, unreachable_message
from coursehub.ops.doctor import Check


def data_dir_reach_check(layout: DataLayout) -> Check:
    """Course files, environments and workspaces lie under the data directory: with a
    folder on the way closed to others (a 0700 home), course builds stop and students'
    servers cannot open them."""
    closed = closed_folders(layout.root)
    if not closed:
        return Check("data dir reach", "ok", f"student accounts can reach {layout.root}")
    message = unreachable_message(
        f"the data directory {layout.root}", closed, "student accounts or the build account"
    )
    detail, _, fix = message.partition(". ")
    return Check("data dir reach", "warn", detail, fix)
