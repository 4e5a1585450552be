"""course.yaml's lectures: the next one after a moment, across daylight-saving changes,
terms, holidays; and what is refused, with a message that says how to write it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from coursehub.courses.lectures import LecturesSpec, weekly_time
from coursehub.courses.manifest import ManifestError, load_manifest


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def spec(**fields: object) -> LecturesSpec:
    return LecturesSpec.model_validate(fields)


def test_weekly_lectures_keep_their_wall_clock_time_across_daylight_saving() -> None:
    lectures = spec(zone="Europe/Paris", weekly=["Mon 09:00", "thursday 14:30"])
    # winter: Paris is UTC+1
    assert lectures.next_lecture(at("2026-03-19T00:00+00:00")) == at("2026-03-19T14:30+01:00")
    assert lectures.next_lecture(at("2026-03-19T13:30+00:00")) == at("2026-03-23T09:00+01:00")
    # the clocks go forward on 29 March: the Monday after is at 09:00 summer time
    assert lectures.next_lecture(at("2026-03-27T00:00+00:00")) == at("2026-03-30T09:00+02:00")


def test_a_weekly_time_the_clocks_skip_or_repeat_still_happens() -> None:
    lectures = spec(zone="Europe/Paris", weekly=["Sun 02:30"])
    # 2026-03-29 02:30 does not exist in Paris: taken at 03:30 summer time
    assert lectures.next_lecture(at("2026-03-28T12:00+00:00")) == at("2026-03-29T03:30+02:00")
    # 2026-10-25 02:30 happens twice: the first time (summer time)
    assert lectures.next_lecture(at("2026-10-24T12:00+00:00")) == at("2026-10-25T02:30+02:00")


def test_dates_term_and_holidays() -> None:
    lectures = spec(
        zone="America/New_York",
        weekly=["Tue 10:00"],
        dates=["2026-09-03 16:00", "2026-09-04T09:00Z", "2026-09-05 11:00 Europe/Paris"],
        **{"from": "2026-09-01", "until": "2026-09-30", "skip": ["2026-09-08", "2026-09-15"]},
    )
    start = at("2026-08-01T00:00+00:00")
    assert lectures.next_lecture(start) == at("2026-09-01T10:00-04:00")  # not before `from`
    after_first = at("2026-09-01T15:00+00:00")
    assert lectures.next_lecture(after_first) == at("2026-09-03T16:00-04:00")
    assert lectures.next_lecture(at("2026-09-03T21:00+00:00")) == at("2026-09-04T09:00Z")
    assert lectures.next_lecture(at("2026-09-04T10:00Z")) == at("2026-09-05T11:00+02:00")
    # two skipped Tuesdays in a row: the next is the 22nd
    assert lectures.next_lecture(at("2026-09-06T00:00Z")) == at("2026-09-22T10:00-04:00")
    # the term is over
    assert lectures.next_lecture(at("2026-09-29T15:00Z")) is None


def test_no_lectures_means_no_next_one() -> None:
    assert spec().next_lecture(at("2026-01-01T00:00Z")) is None
    assert spec().empty


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"weekly": ["Mon 09:00"]}, "need a zone"),
        ({"zone": "Mars/Olympus", "weekly": ["Mon 09:00"]}, "not a time zone name"),
        ({"zone": "UTC", "weekly": ["Someday 09:00"]}, "write a day and a time of day"),
        ({"zone": "UTC", "weekly": ["Mon 24:00"]}, "not a time of day"),
        ({"zone": "Europe/Paris", "dates": ["2026-03-29 02:30"]}, "does not exist in Europe/Paris"),
        ({"zone": "Europe/Paris", "dates": ["2026-10-25 02:30"]}, "happens twice"),
        ({"dates": ["2026-09-07 09:00"]}, "has no time zone"),
        ({"zone": "UTC", "from": "2026-09-10", "until": "2026-09-01"}, "'until' is before 'from'"),
        ({"zone": "UTC", "weekly": "Mon 09:00"}, "list"),
    ],
)
def test_what_is_refused_says_how_to_write_it(fields: dict, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        spec(**fields)


def test_weekly_time_reads_short_and_long_day_names() -> None:
    assert weekly_time("mon 9:05")[0] == weekly_time("Monday 09:05")[0] == 0
    assert weekly_time("SUN 23h59")[0] == 6
    with pytest.raises(ValueError):
        weekly_time("mo 09:00")


def test_course_yaml_lectures_with_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "course.yaml").write_text(
        "title: Algebra\nlectures:\n  zone: Europe/Paris\n  weekly: [Mon 09:00]\n"
        "  dates: [2026-09-10T14:00:00Z]\n  from: 2026-09-01\n"
    )
    lectures = load_manifest(tmp_path, "algebra").lectures
    assert lectures is not None
    assert lectures.next_lecture(at("2026-09-09T00:00Z")) == at("2026-09-10T14:00Z")
    (tmp_path / "course.yaml").write_text("lectures:\n  zone: Europe/Paris\n  weekly: [Mon 9]\n")
    with pytest.raises(ManifestError, match=r"course.yaml:3: lectures.weekly"):
        load_manifest(tmp_path, "algebra")
