"""When a warm-up begins, and when its unused servers stop: pure time arithmetic.

A warm-up is planned for a class start T. It begins at T - warmup.lead (at once when
that is past) and its unused servers are stopped at T + warmup.unused_after. Without
a time given (`coursehub course warm COURSE`, or "class starts in 0 minutes") the
class is taken to start now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from coursehub.core.errors import CoursehubError
from coursehub.core.times import described

LATEST = timedelta(days=366)  # a class further ahead than this is surely a typo


class ScheduleError(CoursehubError):
    """A class start that cannot be planned for; the message says why."""

    exit_code = 2


@dataclass(frozen=True)
class WarmTimes:
    class_starts_at: datetime
    begins_at: datetime
    unused_stop_at: datetime


def times_for(class_start: datetime, lead: int, unused_after: int, now: datetime) -> WarmTimes:
    """The times of a warm-up for a class starting at `class_start` (aware)."""
    start = class_start.astimezone(UTC)
    return WarmTimes(
        class_starts_at=start,
        begins_at=max(start - timedelta(seconds=lead), now.astimezone(UTC)),
        unused_stop_at=start + timedelta(seconds=unused_after),
    )


def requested_times(
    class_start: datetime | None, lead: int, unused_after: int, now: datetime
) -> WarmTimes:
    """The times of a warm-up someone asks for: the class starts at `class_start`, or
    now when None. ScheduleError for a class already started or a year away."""
    if class_start is None:
        return times_for(now, lead, unused_after, now)
    if class_start < now - timedelta(minutes=1):
        raise ScheduleError(
            f"the class start {described(class_start)} is in the past; leave the time out "
            "to warm up now"
        )
    if class_start > now + LATEST:
        raise ScheduleError(
            f"the class start {described(class_start)} is more than a year away: check the date"
        )
    return times_for(max(class_start, now), lead, unused_after, now)


def spoken(seconds: int) -> str:
    """A duration as people say it: 15 minutes, 1 hour 30 minutes, 25 seconds."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second"))
        if n
    ]
    return " ".join(parts) or "0 seconds"
