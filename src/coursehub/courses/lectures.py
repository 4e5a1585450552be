"""When a class meets: the `lectures:` key of course.yaml, so that coursehub can start
the students' servers before the class (see warmup/).

    lectures:
      zone: Europe/Paris            # weekly times, and dates written without a zone
      weekly: [Mon 09:00, Thu 14:00]
      dates: ["2026-09-07 09:00", "2026-09-10T14:00+02:00"]
      from: 2026-09-01              # optional: no weekly lecture before this day
      until: 2026-12-18             # optional: nor after this one
      skip: [2026-11-11]            # optional: days without the weekly lecture

Weekly times are wall-clock times in `zone`, so a 09:00 lecture stays at 09:00 across
daylight-saving changes. On the night the clocks skip a weekly time it is taken at the
same clock time after the change (02:30 becomes 03:30), and on the night they show it
twice, at its first showing: the lecture happens either way, so it is not refused.
Dated times are read by core.times.parse_time, which refuses a time that does not
exist or happens twice, with the offsets to write instead.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from coursehub.core.times import TimeTextError, parse_time, zone_named

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKLY = re.compile(r"^(?P<day>[A-Za-z]{3,9})\s+(?P<hour>\d{1,2})[:h](?P<minute>\d{2})$")
MAX_TIMES = 200  # a term of weekly lectures needs a handful; dates a few dozen


def weekly_time(text: str) -> tuple[int, time]:
    """(weekday 0-6 from Monday, time of day) of "Mon 09:00" or "thursday 14:30";
    ValueError saying how to write it."""
    match = _WEEKLY.match(text.strip())
    day = match.group("day").lower() if match else ""
    weekday = next((i for i, name in enumerate(DAY_NAMES) if day in (name, name[:3])), None)
    if match is None or weekday is None:
        raise ValueError(
            f"{text!r} is not a weekly time: write a day and a time of day, e.g. 'Mon 09:00' "
            "or 'thursday 14:30'"
        )
    hour, minute = int(match.group("hour")), int(match.group("minute"))
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day")
    return weekday, time(hour, minute)


class LecturesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    zone: str | None = Field(
        None,
        description="IANA time zone the weekly times (and dates written without an offset "
        "or zone) are read in, e.g. Europe/Paris.",
    )
    weekly: list[str] = Field(
        [], description="Weekly lecture times, e.g. ['Mon 09:00', 'Thu 14:00']; need zone."
    )
    dates: list[str] = Field(
        [],
        description="One-off lecture times: '2026-09-07 09:00' (in zone), "
        "'2026-09-07T09:00+02:00' or '2026-09-07 09:00 Europe/Paris'.",
    )
    first_day: date | None = Field(
        None, alias="from", description="No weekly lecture before this day (YYYY-MM-DD)."
    )
    until: date | None = Field(None, description="No weekly lecture after this day (YYYY-MM-DD).")
    skip: list[date] = Field([], description="Days without the weekly lecture (holidays).")

    _weekly: list[tuple[int, time]] = PrivateAttr(default_factory=list)
    _dates: list[datetime] = PrivateAttr(default_factory=list)

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None and zone_named(v) is None:
            raise ValueError(
                f"{v!r} is not a time zone name: use one such as Europe/Paris or "
                "America/Los_Angeles (or UTC)"
            )
        return v

    @field_validator("weekly", "dates", mode="before")
    @classmethod
    def _texts(cls, v: Any) -> Any:
        if not isinstance(v, list):
            return v
        if len(v) > MAX_TIMES:
            raise ValueError(f"at most {MAX_TIMES} times")
        # YAML reads some times as timestamps: keep them as written (ISO text)
        return [item.isoformat() if isinstance(item, datetime | date) else item for item in v]

    @field_validator("weekly")
    @classmethod
    def _weekly_times(cls, v: list[str]) -> list[str]:
        for text in v:
            weekly_time(text)
        return v

    @model_validator(mode="after")
    def _read_times(self) -> LecturesSpec:
        zone = self.tz
        if self.weekly and zone is None:
            raise ValueError(
                "weekly lecture times need a zone to be read in: add e.g. zone: Europe/Paris"
            )
        self._weekly = [weekly_time(text) for text in self.weekly]
        dates = []
        for text in self.dates:
            try:
                dates.append(parse_time(text, default_zone=zone))
            except TimeTextError as exc:
                raise ValueError(f"dates: {exc}") from None
        self._dates = sorted(dates)
        if self.first_day and self.until and self.until < self.first_day:
            raise ValueError("'until' is before 'from'")
        return self

    @property
    def tz(self) -> tzinfo | None:
        return zone_named(self.zone) if self.zone else None

    @property
    def empty(self) -> bool:
        return not self._weekly and not self._dates

    def next_lecture(self, after: datetime) -> datetime | None:
        """The first lecture that starts after `after` (aware), in UTC; None when
        there is none (no times, or the term is over)."""
        after = after.astimezone(UTC)
        found = [d.astimezone(UTC) for d in self._dates if d.astimezone(UTC) > after]
        zone = self.tz
        if self._weekly and zone is not None:
            day = max(after.astimezone(zone).date(), self.first_day or date.min)
            # every weekly time comes within a week, unless skipped days hide it
            for offset in range(7 * (len(self.skip) + 2)):
                current = day + timedelta(days=offset)
                if self.until and current > self.until:
                    break
                if current in self.skip:
                    continue
                weekly = [
                    wall_clock(datetime.combine(current, at), zone)
                    for weekday, at in self._weekly
                    if current.weekday() == weekday
                ]
                weekly = [moment for moment in weekly if moment > after]
                if weekly:
                    found.append(min(weekly))
                    break
        return min(found) if found else None


def wall_clock(wall: datetime, zone: tzinfo) -> datetime:
    """The moment, in UTC, a clock in `zone` shows `wall` (naive): its first showing when
    it shows it twice; when the clocks skip it, the moment they show the same time after
    the change (02:30 on a night that skips from 02:00 to 03:00 is taken at 03:30)."""
    # PEP 495: fold=0 reads a skipped time with the offset from before the change
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
