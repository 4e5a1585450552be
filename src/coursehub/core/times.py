"""Times given to coursehub from outside the database (query strings, arguments, forms),
and how they are written back to people.

coursehub keeps UTC everywhere. A deadline someone types is read by `parse_time`, the
one parser every entry uses (CLI, pages, API): ISO 8601 with an offset or `Z`, ISO with
an IANA zone name (`2026-03-29 09:00 Europe/Paris`), or a plain local time when the
caller names the zone it is read in (a form: the viewer's browser zone; the CLI: this
machine's). A local time that a daylight-saving change skips or repeats is refused
with the offsets to write instead: guessing would move a deadline by an hour."""

from __future__ import annotations

import os
import re
from contextlib import suppress
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coursehub.core.errors import CoursehubError

EXAMPLE = "2026-12-21T23:59-08:00"
FORMS = (
    f"write it as {EXAMPLE} (ISO 8601 with the offset from UTC), "
    "2026-12-21T23:59Z (in UTC) or 2026-12-21 23:59 America/Los_Angeles (with a time zone name)"
)
MAX_TEXT = 80
UTC_NAMES = {"UTC", "Etc/UTC", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu", "UCT", "Etc/UCT"}
_ZONE_TAIL = re.compile(
    r"^(?P<stamp>.+?)(?:\s+(?P<name>[A-Za-z][\w+\-/]*)|\[(?P<bracket>[^\]]*)\])$"
)
_SPACED_OFFSET = re.compile(r"\s+(?=[+-]\d\d(?::?\d\d)?$)")
_DATE_ONLY = re.compile(r"^\d{4}-?\d{2}-?\d{2}$")


class TimeTextError(CoursehubError, ValueError):
    """A date and time that cannot be read, or does not name one moment; the message
    says what was wrong and how to write it."""


@overload
def utc(when: datetime) -> datetime: ...
@overload
def utc(when: None) -> None: ...
def utc(when: datetime | None) -> datetime | None:
    """`when` made aware: coursehub keeps UTC everywhere, so a naive time is UTC."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA time zone `name` (Europe/Paris), or None if there is none of that name."""
    name = name.strip()
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def local_zone() -> tzinfo:
    """This machine's time zone, by its IANA name when it has one (TZ, /etc/localtime,
    /etc/timezone), so that local times keep their daylight-saving rules; else the
    current fixed offset."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "/zoneinfo/" in target:
            candidates.append(target.split("/zoneinfo/", 1)[1])
    with suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    for name in candidates:
        if name in UTC_NAMES:
            return UTC
        zone = zone_named(name) if name else None
        if zone is not None:
            return zone
    return datetime.now().astimezone().tzinfo or UTC


def zone_name(zone: tzinfo) -> str:
    """How a zone is named to people: its IANA name, UTC, or its offset (UTC-08:00)."""
    if zone == UTC:
        return "UTC"
    if isinstance(zone, ZoneInfo):
        return zone.key
    offset = zone.utcoffset(None)
    return f"UTC{_offset(offset)}" if offset is not None else str(zone)


def parse_time(text: str, default_zone: tzinfo | None = None) -> datetime:
    """The moment `text` names, aware, in the zone or offset it was written in.

    `default_zone` reads a time written without offset or zone (a form's
    datetime-local, the CLI's plain local time); without it such a time is refused.
    Raises TimeTextError saying what was wrong and how to write it."""
    text = text.strip()
    shown = repr(text if len(text) <= 40 else text[:40] + "…")
    if not text:
        raise TimeTextError(f"No date and time given: {FORMS}.")
    if len(text) > MAX_TEXT:
        raise TimeTextError(f"{shown} is too long for a date and time: {FORMS}.")
    stamp, name = _split_zone(text)
    stamp = _SPACED_OFFSET.sub("", stamp)
    if _DATE_ONLY.match(stamp):
        raise TimeTextError(
            f"{shown} has no time of day: give one, as in {stamp}T23:59 (with an offset "
            f"or zone name: {stamp}T23:59-08:00)."
        )
    try:
        value = datetime.fromisoformat(stamp)
    except ValueError:
        raise TimeTextError(f"{shown} is not a date and time: {FORMS}.") from None
    zone = _zone(name, shown) if name is not None else None
    if value.tzinfo is not None:
        return _checked(_with_zone(value, zone, shown), shown)
    zone = zone or default_zone
    if zone is None:
        raise TimeTextError(
            f"{shown} has no time zone, so it could be any of 24 hours: add the offset "
            f"({value:%Y-%m-%dT%H:%M}-08:00), Z for UTC, or a zone name "
            f"({value:%Y-%m-%d %H:%M} America/Los_Angeles)."
        )
    return _checked(local_moment(value, zone), shown)


def local_moment(wall: datetime, zone: tzinfo) -> datetime:
    """The one moment a clock in `zone` shows as `wall` (naive); TimeTextError when
    the clocks skip that time (spring forward) or show it twice (fall back)."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    name, shown = zone_name(zone), f"{wall:%Y-%m-%d %H:%M}"
    before, after = _offset(first.utcoffset()), _offset(second.utcoffset())
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        instead = first.astimezone(UTC).astimezone(zone)
        raise TimeTextError(
            f"{shown} does not exist in {name}: the clocks go forward that night (from "
            f"UTC{before} to UTC{after}) and skip it. Choose another time, or write it with "
            f"its offset: {wall:%Y-%m-%dT%H:%M}{before} is {instead:%H:%M} after the change."
        )
    raise TimeTextError(
        f"{shown} happens twice in {name}: the clocks go back that night. Say which with "
        f"the offset: {wall:%Y-%m-%dT%H:%M}{before} (the first, {first.tzname()}) or "
        f"{wall:%Y-%m-%dT%H:%M}{after} (the second, {second.tzname()})."
    )


def utc_text(when: datetime) -> str:
    """`when` in UTC as people read it: 2026-12-21 18:00 UTC."""
    return f"{_clock(utc(when).astimezone(UTC), True)} UTC"


def described(when: datetime) -> str:
    """A moment in UTC and, when it was given otherwise, in the zone it was given in:
    `2026-12-21 18:00 UTC (10:00 -08:00)`; the date is repeated when it differs."""
    said = utc_text(when)
    zone = when.tzinfo
    if zone is None or when.utcoffset() == timedelta(0) and not isinstance(zone, ZoneInfo):
        return said
    local = when.astimezone(zone)
    same_day = local.date() == when.astimezone(UTC).date()
    clock = _clock(local, not same_day)
    if isinstance(zone, ZoneInfo):
        return f"{said} ({clock} {local.tzname()}, {zone.key})"
    return f"{said} ({clock} {_offset(local.utcoffset())})"


def input_value(when: datetime | None, zone: tzinfo) -> str:
    """`when` as an <input type=datetime-local> shows it in `zone` (empty for None)."""
    if when is None:
        return ""
    return utc(when).astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _split_zone(text: str) -> tuple[str, str | None]:
    """The date and time, and the zone name written after it (None: none written)."""
    match = _ZONE_TAIL.match(text)
    if match is None:
        return text, None
    return match.group("stamp").strip(), match.group("name") or match.group("bracket") or ""


def _zone(name: str, shown: str) -> tzinfo:
    if name.upper() in ("Z", "UTC", "GMT"):
        return UTC
    zone = zone_named(name)
    if zone is None:
        raise TimeTextError(
            f"{shown}: {name[:40]!r} is not a time zone name. Use one such as "
            f"Europe/Paris or America/Los_Angeles, or an offset: {EXAMPLE}."
        )
    return zone


def _with_zone(value: datetime, zone: tzinfo | None, shown: str) -> datetime:
    """An offset given with a zone name must be that zone's offset at that moment."""
    if zone is None:
        return value if value.utcoffset() != timedelta(0) else value.astimezone(UTC)
    moment = value.astimezone(zone)
    if moment.utcoffset() != value.utcoffset():
        wall = value.replace(tzinfo=None)
        raise TimeTextError(
            f"{shown}: the offset {_offset(value.utcoffset())} is not {zone_name(zone)}'s "
            f"on that date ({_offset(moment.utcoffset())}). Give the offset or the zone name, "
            f"not both: {wall:%Y-%m-%dT%H:%M}{_offset(value.utcoffset())} or "
            f"{wall:%Y-%m-%d %H:%M} {zone_name(zone)}."
        )
    return moment


def _checked(value: datetime, shown: str) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise TimeTextError(f"{shown} is out of range: {FORMS}.") from None
    return value


def _clock(value: datetime, with_date: bool) -> str:
    clock = value.strftime("%H:%M:%S" if value.second else "%H:%M")
    return f"{value:%Y-%m-%d} {clock}" if with_date else clock


def _offset(offset: timedelta | None) -> str:
    """+02:00 or -08:00 (seconds, which no zone uses since 1972, are dropped)."""
    minutes = int((offset or timedelta(0)).total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"
