"""core.times: the one parser every deadline goes through (CLI, pages, API), and how a
moment is written back. Offsets on both sides of midnight, zone names across
daylight-saving changes (the gap and the fold refused, with the offsets to write
instead), and bad text answered with what was wrong and an example."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from coursehub.core.times import (
    TimeTextError,
    described,
    input_value,
    local_zone,
    parse_time,
    utc_text,
    zone_name,
    zone_named,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
TOKYO = ZoneInfo("Asia/Tokyo")


def at_utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the issue's own example: 10:00 in UTC-8 is 18:00 UTC, not 10:00 UTC
        ("2026-12-21T10:00-08:00", at_utc(2026, 12, 21, 18, 0)),
        # west of UTC, late evening: the next day in UTC
        ("2026-12-21T23:30-08:00", at_utc(2026, 12, 22, 7, 30)),
        # east of UTC, just after midnight: the day before in UTC
        ("2026-12-22T00:30+09:00", at_utc(2026, 12, 21, 15, 30)),
        ("2026-12-21T10:00Z", at_utc(2026, 12, 21, 10, 0)),
        ("2026-12-21 10:00 -08:00", at_utc(2026, 12, 21, 18, 0)),
        ("2026-12-21T10:00:30+05:30", at_utc(2026, 12, 21, 4, 30, 30)),
        ("2026-12-21 23:59 UTC", at_utc(2026, 12, 21, 23, 59)),
        # zone names: the offset of that date (winter, summer)
        ("2026-12-21 10:00 America/Los_Angeles", at_utc(2026, 12, 21, 18, 0)),
        ("2026-07-01 10:00 America/Los_Angeles", at_utc(2026, 7, 1, 17, 0)),
        ("2026-12-22T00:30[Asia/Tokyo]", at_utc(2026, 12, 21, 15, 30)),
        ("2026-12-21T10:00+01:00 Europe/Paris", at_utc(2026, 12, 21, 9, 0)),
    ],
)
def test_offsets_and_zone_names_name_one_utc_moment(text: str, expected: datetime) -> None:
    moment = parse_time(text)
    assert moment.tzinfo is not None
    assert moment.astimezone(UTC) == expected
    assert moment == expected


def test_a_plain_time_is_read_in_the_zone_the_caller_names() -> None:
    assert parse_time("2026-12-21T10:00", LOS_ANGELES) == at_utc(2026, 12, 21, 18, 0)
    assert parse_time("2026-12-21T10:00", TOKYO) == at_utc(2026, 12, 21, 1, 0)
    assert parse_time("2026-12-22 00:30", TOKYO) == at_utc(2026, 12, 21, 15, 30)
    # a zone written in the text wins over the caller's
    assert parse_time("2026-12-21 10:00 Asia/Tokyo", LOS_ANGELES) == at_utc(2026, 12, 21, 1, 0)
    # an offset too
    assert parse_time("2026-12-21T10:00Z", TOKYO) == at_utc(2026, 12, 21, 10, 0)


def test_a_plain_time_without_a_zone_is_refused_with_examples() -> None:
    with pytest.raises(TimeTextError) as err:
        parse_time("2026-12-21T10:00")
    message = str(err.value)
    assert "no time zone" in message
    assert "2026-12-21T10:00-08:00" in message and "America/Los_Angeles" in message


def test_the_spring_forward_gap_is_refused_with_the_offset_to_write() -> None:
    # Europe/Paris 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 never shows
    with pytest.raises(TimeTextError) as err:
        parse_time("2026-03-29 02:30", PARIS)
    message = str(err.value)
    assert "does not exist in Europe/Paris" in message and "go forward" in message
    assert "2026-03-29T02:30+01:00" in message and "03:30" in message
    # what the message says to write is accepted, and is 03:30 summer time
    assert parse_time("2026-03-29T02:30+01:00") == parse_time("2026-03-29 03:30 Europe/Paris")
    # New York's own gap that year (2026-03-08), written with the zone name
    with pytest.raises(TimeTextError, match="does not exist in America/New_York"):
        parse_time("2026-03-08 02:30 America/New_York")


def test_the_fall_back_fold_is_refused_with_both_offsets() -> None:
    # America/New_York 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 shows twice
    with pytest.raises(TimeTextError) as err:
        parse_time("2026-11-01 01:30", NEW_YORK)
    message = str(err.value)
    assert "happens twice in America/New_York" in message
    assert "2026-11-01T01:30-04:00" in message and "2026-11-01T01:30-05:00" in message
    assert "EDT" in message and "EST" in message
    # each of the two is accepted, one hour apart
    first, second = parse_time("2026-11-01T01:30-04:00"), parse_time("2026-11-01T01:30-05:00")
    assert second - first == timedelta(hours=1)
    with pytest.raises(TimeTextError, match="happens twice in Europe/Paris"):
        parse_time("2026-10-25 02:30 Europe/Paris")


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        # the day before the change, the time that changes, a day after it
        ("2026-03-28 09:00", PARIS, at_utc(2026, 3, 28, 8, 0)),  # CET, +01:00
        ("2026-03-29 01:59", PARIS, at_utc(2026, 3, 29, 0, 59)),
        ("2026-03-29 03:00", PARIS, at_utc(2026, 3, 29, 1, 0)),  # CEST, +02:00
        ("2026-03-30 09:00", PARIS, at_utc(2026, 3, 30, 7, 0)),
        ("2026-10-31 09:00", NEW_YORK, at_utc(2026, 10, 31, 13, 0)),  # EDT, -04:00
        ("2026-11-01 00:59", NEW_YORK, at_utc(2026, 11, 1, 4, 59)),
        ("2026-11-01 02:00", NEW_YORK, at_utc(2026, 11, 1, 7, 0)),  # EST, -05:00
        ("2026-11-02 09:00", NEW_YORK, at_utc(2026, 11, 2, 14, 0)),
    ],
)
def test_times_around_a_change_get_the_offset_of_their_side(
    text: str, zone: ZoneInfo, expected: datetime
) -> None:
    assert parse_time(text, zone) == expected
    assert parse_time(f"{text} {zone.key}") == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "No date and time given"),
        ("   ", "No date and time given"),
        ("tomorrow", "is not a date and time"),
        ("21/12/2026 10:00", "is not a date and time"),
        ("2026-13-01T10:00Z", "is not a date and time"),
        ("2026-12-21T25:00Z", "is not a date and time"),
        ("2026-12-21", "has no time of day"),
        ("2026-12-21 10:00 PST", "'PST' is not a time zone name"),
        ("2026-12-21 10:00 Mars/Olympus", "is not a time zone name"),
        ("2026-12-21 10:00 ../../etc/passwd", "is not a date and time"),
        ("2026-12-21T10:00+05:00 Europe/Paris", "is not Europe/Paris's on that date"),
        ("2026-12-21T10:00" + "0" * 100, "too long"),
        ("0001-01-01T00:00+01:00", "out of range"),
    ],
)
def test_bad_text_says_what_was_wrong_and_how_to_write_it(text: str, says: str) -> None:
    with pytest.raises(TimeTextError) as err:
        parse_time(text, LOS_ANGELES)
    message = str(err.value)
    assert says in message
    assert re.search(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d", message)  # an example to follow


def test_zone_names_are_checked_not_opened_as_paths() -> None:
    assert zone_named("Europe/Paris") == PARIS
    for bad in ("", "Nowhere/Else", "/etc/localtime", "../../etc/passwd", "America", "x" * 100):
        assert zone_named(bad) is None, bad


def test_moments_are_written_in_utc_and_as_given() -> None:
    assert utc_text(parse_time("2026-12-21T10:00-08:00")) == "2026-12-21 18:00 UTC"
    assert described(parse_time("2026-12-21T10:00-08:00")) == "2026-12-21 18:00 UTC (10:00 -08:00)"
    # the date is repeated when the zone's differs from UTC's
    assert described(parse_time("2026-12-21T23:30-08:00")) == (
        "2026-12-22 07:30 UTC (2026-12-21 23:30 -08:00)"
    )
    assert described(parse_time("2026-12-22T00:30+09:00")) == (
        "2026-12-21 15:30 UTC (2026-12-22 00:30 +09:00)"
    )
    assert described(parse_time("2026-03-29 09:00 Europe/Paris")) == (
        "2026-03-29 07:00 UTC (09:00 CEST, Europe/Paris)"
    )
    assert described(parse_time("2026-12-21T10:00Z")) == "2026-12-21 10:00 UTC"


def test_form_values_and_zone_names() -> None:
    due = at_utc(2026, 12, 22, 7, 30)
    assert input_value(due, LOS_ANGELES) == "2026-12-21T23:30"
    assert input_value(due, TOKYO) == "2026-12-22T16:30"
    assert input_value(None, TOKYO) == ""
    assert zone_name(UTC) == "UTC" and zone_name(TOKYO) == "Asia/Tokyo"
    assert zone_name(parse_time("2026-12-21T10:00-08:00").tzinfo) == "UTC-08:00"


def test_the_machine_zone_comes_from_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    assert local_zone() == LOS_ANGELES
    monkeypatch.setenv("TZ", "UTC")
    assert local_zone() is UTC
