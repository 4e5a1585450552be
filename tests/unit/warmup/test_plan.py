"""Who a warm-up starts a server for: enrolled students only, the memory bound cutting
the same students every time, and those it cannot warm named with their reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coursehub.warmup.plan import make_plan, warm_order
from coursehub.warmup.schedule import ScheduleError, requested_times, spoken, times_for

NOW = datetime(2026, 9, 7, 8, 0, tzinfo=UTC)


def test_each_student_has_one_place_and_staff_nobody_else_is_warmed() -> None:
    plan = make_plan(
        students=["amy", "bob", "cat", "dan", "eve"],
        accounts={"amy", "bob", "cat", "dan"},  # eve: enrolled by name, no account yet
        hub_users={"amy", "bob", "cat", "zed"},  # dan never signed in; zed is not enrolled
        running={"cat", "zed"},
        last_opened={},
        fits=None,
    )
    assert plan.warm == ["amy", "bob"]
    assert plan.running == ["cat"]
    assert plan.not_signed_in == ["dan"]
    assert plan.no_account == ["eve"]
    assert plan.create == [] and plan.memory == []
    assert plan.students == 5  # zed is in no part of it


def test_an_admin_tells_the_hub_about_students_who_never_signed_in() -> None:
    plan = make_plan(["amy", "dan"], {"amy", "dan"}, {"amy"}, set(), {}, None, create_users=True)
    assert plan.warm == ["amy", "dan"] and plan.create == ["dan"] and plan.not_signed_in == []


def test_memory_leaves_out_the_least_active_students_the_same_way_every_time() -> None:
    opened = {"zoe": NOW - timedelta(days=1), "bob": NOW - timedelta(days=7)}
    names = ["amy", "bob", "cat", "zoe", "dan"]
    plans = [
        make_plan(order, set(names), set(names), set(), opened, fits=3)
        for order in (names, list(reversed(names)))
    ]
    assert plans[0] == plans[1]
    assert plans[0].warm == ["zoe", "bob", "amy"]  # most recent first, then by name
    assert plans[0].memory == ["cat", "dan"]
    assert make_plan(names, set(names), set(names), set(), opened, fits=0).warm == []
    assert make_plan(names, set(names), set(names), set(), opened, fits=-5).memory == warm_order(
        names, opened
    )


def test_times_of_a_warm_up() -> None:
    start = NOW + timedelta(hours=1)
    times = times_for(start, lead=900, unused_after=1800, now=NOW)
    assert times.begins_at == start - timedelta(minutes=15)
    assert times.unused_stop_at == start + timedelta(minutes=30)
    # a class sooner than the lead: warming begins now
    soon = times_for(NOW + timedelta(minutes=5), lead=900, unused_after=1800, now=NOW)
    assert soon.begins_at == NOW
    # no time: the class starts now
    now = requested_times(None, 900, 1800, NOW)
    assert now.class_starts_at == now.begins_at == NOW
    assert now.unused_stop_at == NOW + timedelta(minutes=30)


def test_a_class_in_the_past_or_years_away_is_refused() -> None:
    for when, said in (
        (NOW - timedelta(hours=1), "in the past"),
        (NOW + timedelta(days=400), "a year"),
    ):
        try:
            requested_times(when, 900, 1800, NOW)
        except ScheduleError as exc:
            assert said in str(exc)
        else:
            raise AssertionError(when)


def test_durations_as_people_say_them() -> None:
    assert spoken(900) == "15 minutes"
    assert spoken(5400) == "1 hour 30 minutes"
    assert spoken(25) == "25 seconds" and spoken(61) == "1 minute 1 second"
