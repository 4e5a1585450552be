"""The culler's decisions: per-course idle timeouts and maximum ages, else the site's."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from coursehub.ops.culler import (
    CullPolicy,
    Limits,
    PolicyError,
    cull_reason,
    main,
    make_arbiter,
    policy_from_json,
    spared_until,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
POLICY = policy_from_json(
    '{"timeout": 3600, "max_age": 28800, "courses": {'
    '"exam": {"timeout": 0, "max_age": null},'
    '"lab": {"timeout": 600, "max_age": 0},'
    '"big": {"timeout": null, "max_age": 3600}}}'
)


def _server(course: str, started_ago: timedelta, user: str = "ana") -> dict:
    return {
        "name": course,
        "url": f"/user/{user}/{course}/",
        "started": (NOW - started_ago).isoformat().replace("+00:00", "Z"),
        "ready": True,
    }


def _decide(course: str, idle: timedelta, age: timedelta) -> bool:
    arbiter = make_arbiter(POLICY, clock=lambda: NOW)
    return arbiter(inactive=idle, inactive_limit=3600, server=_server(course, age))


def test_course_limits_fall_back_to_the_site() -> None:
    assert POLICY.limits("exam") == Limits(timeout=0, max_age=28800)
    assert POLICY.limits("lab") == Limits(timeout=600, max_age=0)
    assert POLICY.limits("big") == Limits(timeout=3600, max_age=3600)
    assert POLICY.limits("other") == Limits(timeout=3600, max_age=28800)
    # a default server is never a course's, even if named like one elsewhere
    assert POLICY.limits("") == Limits(timeout=3600, max_age=28800)


def test_idle_servers_are_stopped_after_their_course_timeout() -> None:
    m = timedelta(minutes=1)
    assert _decide("lab", idle=11 * m, age=20 * m)  # lab's own 10 minutes
    assert not _decide("lab", idle=9 * m, age=20 * m)
    assert not _decide("other", idle=59 * m, age=70 * m)  # the site's hour
    assert _decide("other", idle=60 * m, age=70 * m)
    # the exam course turned idleness off: only the site's max age stops it
    assert not _decide("exam", idle=7 * 60 * m, age=7 * 60 * m + m)
    assert _decide("exam", idle=m, age=8 * 60 * m)


def test_busy_servers_are_stopped_only_past_max_age() -> None:
    m = timedelta(minutes=1)
    assert not _decide("big", idle=m, age=59 * m)
    assert _decide("big", idle=m, age=61 * m)
    # lab has no maximum age, even though the site has one
    assert not _decide("lab", idle=m, age=100 * 60 * m)


def test_reason_says_idle_or_old() -> None:
    reason = cull_reason(Limits(600, 0), timedelta(seconds=700), timedelta(seconds=800))
    assert reason is not None and reason.startswith("idle for 11m40s")
    reason = cull_reason(Limits(0, 3600), timedelta(seconds=5), timedelta(seconds=4000))
    assert reason is not None and reason.startswith("older than 1h00m00s")
    assert cull_reason(Limits(0, 0), timedelta(days=9), timedelta(days=9)) is None
    # a server that never reported activity is judged by age only
    assert cull_reason(Limits(60, 0), None, timedelta(days=1)) is None


def test_one_log_line_per_stopped_server(caplog: pytest.LogCaptureFixture) -> None:
    arbiter = make_arbiter(POLICY, clock=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="coursehub.culler"):
        arbiter(inactive=timedelta(hours=2), inactive_limit=0, server=_server("lab", NOW - NOW))
        arbiter(inactive=timedelta(0), inactive_limit=0, server=_server("lab", NOW - NOW))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith("stopping server ana/lab: idle for 2h00m00s")


def test_policy_activity_and_bad_policies() -> None:
    assert POLICY.active
    assert CullPolicy(Limits(0, 0), {"exam": (300, None)}).active
    assert not CullPolicy(Limits(0, 0), {"exam": (0, None)}).active
    for bad in ("[]", "{", '{"timeout": -1}', '{"timeout": "1h"}', '{"courses": {"a": 3}}'):
        with pytest.raises(PolicyError):
            policy_from_json(bad)


def test_main_refuses_to_run_without_hub_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:1/hub/api")
    assert main(["--cull-every=1"]) == 2
    assert "JUPYTERHUB_API_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t")
    monkeypatch.setenv("COURSEHUB_CULL_POLICY", '{"timeout": -5}')
    assert main(["--cull-every=1"]) == 2
    assert "timeout" in capsys.readouterr().err


def test_warmed_servers_are_spared_until_their_unused_ones_are_stopped() -> None:
    until = NOW + timedelta(minutes=20)
    spared = {("ana", "lab"): until}
    arbiter = make_arbiter(POLICY, clock=lambda: NOW, spared=lambda: spared)
    idle_long = {"inactive": timedelta(hours=5), "inactive_limit": 3600}
    # lab's idle limit is 10 minutes: warmed ana/lab stays, ben/lab and ana/big do not
    assert not arbiter(**idle_long, server=_server("lab", timedelta(hours=5)))
    assert arbiter(**idle_long, server=_server("lab", timedelta(hours=5), user="ben"))
    assert arbiter(**idle_long, server=_server("big", timedelta(hours=5)))
    # after that moment the course's limits apply again
    later = make_arbiter(POLICY, clock=lambda: until + timedelta(seconds=1), spared=lambda: spared)
    assert later(**idle_long, server=_server("lab", timedelta(hours=5)))


def test_only_the_database_spares_a_server_not_what_its_student_sends() -> None:
    # A student starting their own server can send any user_options; none of it counts.
    arbiter = make_arbiter(POLICY, clock=lambda: NOW, spared=lambda: {})
    server = _server("lab", timedelta(hours=1))
    server["user_options"] = {"warm": True, "warmed_until": "2999-01-01T00:00:00Z"}
    assert arbiter(inactive=timedelta(hours=1), inactive_limit=3600, server=server)
    assert spared_until({("ana", "lab"): NOW - timedelta(seconds=1)}, "ana", "lab", NOW) is None
    assert spared_until({("ana", "lab"): NOW + timedelta(seconds=1)}, "ana", "", NOW) is None


def test_the_culler_reads_the_warmed_servers_from_the_database(db_url: str) -> None:
    from coursehub.db import models
    from coursehub.ops.culler import warm_servers
    from coursehub.warmup.store import SETTLE_GRACE
    from tests.helpers.coursedb import opened_database

    with opened_database(db_url) as db, db.session() as s:
        s.add(models.Course(name="lab", repo_url="/x", branch="main", last_pull_output=""))
        s.flush()
        warmup = models.WarmUp(
            course="lab",
            class_starts_at=NOW,
            begins_at=NOW - timedelta(minutes=15),
            unused_stop_at=NOW + timedelta(minutes=30),
            source="command",
            state="done",
        )
        s.add(warmup)
        s.flush()
        s.add(
            models.WarmServer(warmup_id=warmup.id, username="ana", course="lab", outcome="warmed")
        )
        s.add(
            models.WarmServer(warmup_id=warmup.id, username="ben", course="lab", outcome="failed")
        )
    read = warm_servers(db_url)
    assert read(NOW) == {("ana", "lab"): NOW + timedelta(minutes=30) + SETTLE_GRACE}
    assert read(NOW + timedelta(hours=1)) == {}
