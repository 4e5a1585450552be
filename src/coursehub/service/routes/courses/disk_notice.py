"""What the pages say about disk use: a student's own warning over the soft quota, and
the staff page's Disk column. Figures come from the monitor's last measurement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coursehub.monitor.disk_usage import MEASURE_EVERY, DiskUse, human_size, quota_of, read_usage
from coursehub.service.context import context_of


@dataclass(frozen=True)
class DiskNotice:
    used: str
    limit: str
    measured_at: datetime


def disk_notice(app: Any, username: str) -> DiskNotice | None:
    """`username`'s own warning, when a soft quota is set and they are over it (blocking)."""
    settings = context_of(app).settings
    quota = quota_of(settings)
    if not quota or not settings.database_url:
        return None
    use = read_usage(context_of(app).database, [username]).get(username)
    if use is None or not use.over(quota):
        return None
    return DiskNotice(human_size(use.home), human_size(quota), use.measured_at)


@dataclass(frozen=True)
class StaffDisk:
    """The staff page's view: each member's use, the quota, who is over it."""

    usage: dict[str, DiskUse]
    quota: int | None
    over: int  # students over the quota
    every_minutes: int = MEASURE_EVERY // 60

    def cell(self, username: str) -> tuple[str, str | None, bool]:
        """(home size, this course's workspace size, over the quota) for the roster."""
        use = self.usage.get(username)
        if use is None:
            return "not measured", None, False
        course = human_size(use.course) if use.course is not None else None
        return human_size(use.home), course, use.over(self.quota)

    @property
    def limit(self) -> str:
        return human_size(self.quota) if self.quota else ""


def staff_disk(app: Any, course: str, members: list[Any]) -> StaffDisk:
    """Disk use of a course's members (Enrolment rows), blocking."""
    settings = context_of(app).settings
    quota = quota_of(settings)
    usage = read_usage(context_of(app).database, [m.username for m in members], course)
    over = sum(
        1
        for m in members
        if m.role == "student" and m.username in usage and usage[m.username].over(quota)
    )
    return StaffDisk(usage, quota, over)
