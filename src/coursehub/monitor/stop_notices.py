"""What course staff stopped, worded for the student whose kernel or server it was.

The staff servers page writes a notice here when a staff member stops a kernel or a
server; the student's JupyterLab shows it (service/routes/staff/stop_notices.py brings
it there). A notice names who stopped what and when, and says that the student's
files are kept: without it they saw only "File Save Error" or "No Kernel".

Notices live in memory, at most MAX_KEPT of them for KEEP_FOR: they matter for the
minutes around a stop, and the service's log keeps who stopped what. Each has an id
nobody can guess, and is given only to the student it was written for.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

KEEP_FOR = 3600.0  # seconds
MAX_KEPT = 5000
TIME = "{time}"  # where the student's JupyterLab puts the time, in the reader's zone


@dataclass(frozen=True)
class StopNotice:
    id: str
    username: str
    course: str
    kind: str  # kernel | server
    by: str
    at: datetime
    message: str
    path: str = ""  # the notebook of a stopped kernel

    def as_json(self) -> dict[str, Any]:
        """What the student's server gets (it knows whose and which course it is)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "by": self.by,
            "at": self.at.isoformat(),
            "message": self.message,
            "path": self.path,
        }


def kernel_message(by: str, path: str) -> str:
    """Short enough for a JupyterLab notification (140 characters are shown)."""
    name = PurePosixPath(path).name if path else "a notebook"
    return (
        f"Course staff ({by}) stopped the kernel of {name} at {TIME}. "
        "Your notebook is kept; start a new kernel to run it again."
    )


def server_message(by: str, course: str, restart: bool = False) -> str:
    why = " to restart it with the course's updated environment" if restart else ""
    return (
        f"Course staff ({by}) stopped your {course} server at {TIME}{why}. Your files "
        "are kept, and this page saved your open notebooks first. Reload the page to "
        "start your server again."
    )


class StopNotices:
    """Notices by id, oldest dropped first; safe to use from worker threads."""

    def __init__(
        self,
        keep_for: float = KEEP_FOR,
        max_kept: int = MAX_KEPT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keep_for = keep_for
        self.max_kept = max_kept
        self.clock = clock
        self._notices: OrderedDict[str, tuple[float, StopNotice]] = OrderedDict()
        self._lock = threading.Lock()

    def write(
        self, username: str, course: str, kind: str, by: str, message: str, path: str = ""
    ) -> StopNotice:
        notice = StopNotice(
            id=secrets.token_hex(16),
            username=username,
            course=course,
            kind=kind,
            by=by,
            at=datetime.now(UTC),
            message=message,
            path=path,
        )
        with self._lock:
            self._drop_old()
            self._notices[notice.id] = (self.clock(), notice)
            while len(self._notices) > self.max_kept:
                self._notices.popitem(last=False)
        return notice

    def get(self, notice_id: str, username: str, course: str) -> StopNotice | None:
        """The notice `notice_id` if it was written for `username`'s `course` server."""
        with self._lock:
            self._drop_old()
            kept = self._notices.get(notice_id)
        if kept is None:
            return None
        notice = kept[1]
        if notice.username != username or notice.course != course:
            return None
        return notice

    def latest(self, username: str, course: str, kind: str) -> StopNotice | None:
        """The newest kept notice of `kind` for `username`'s `course` server."""
        with self._lock:
            self._drop_old()
            found = [
                n
                for _, n in self._notices.values()
                if (n.username, n.course, n.kind) == (username, course, kind)
            ]
        return found[-1] if found else None

    def _drop_old(self) -> None:
        limit = self.clock() - self.keep_for
        while self._notices:
            written, _ = next(iter(self._notices.values()))
            if written >= limit:
                break
            self._notices.popitem(last=False)
