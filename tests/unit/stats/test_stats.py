"""Usage statistics: a scripted week of notebook events gives exact counts (staff left
out), the roll-up counts each event once whatever happens, raw samples become hourly
averages, old statistics go, CSV cells cannot be formulas, and the page is for staff.

Real database (SQLite, and PostgreSQL when it runs), real course store and git; the
hub is faked for the page tests (tests/helpers/fake_hub.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from coursehub.config.layout import DataLayout
from coursehub.courses.git import CourseError
from coursehub.db import models
from coursehub.db.session import Database
from coursehub.monitor.census import KernelState, ServerState
from coursehub.service import cookies
from coursehub.service.context import context_of
from coursehub.stats import rollup
from coursehub.stats.csv_export import TABLES, safe_cell, to_csv
from coursehub.stats.report import course_stats
from coursehub.stats.retention import downsample, expire
from coursehub.stats.sampler import MachineFigures, machine_figures, record_sample
from tests.helpers import stats_week as week
from tests.helpers.coursedb import opened_database
from tests.helpers.fake_hub import API_TOKEN, PREFIX, bearer, client, service_on, user

NOW = datetime(2026, 3, 15, 15, 30, tzinfo=UTC)


@pytest.fixture
def populated(any_db: Database, tmp_path: Path) -> Database:
    week.populate(any_db, tmp_path / "data", tmp_path, NOW)
    return any_db


def _daily_counts(db: Database) -> dict[tuple, tuple[int, int, int]]:
    with db.session() as s:
        return {
            (r.course, r.day, r.username, r.path): (r.opens, r.saves, r.executions)
            for r in s.scalars(select(models.StatDaily))
        }


def test_a_scripted_week_gives_the_expected_counts_without_staff(populated: Database) -> None:
    rollup.roll_up(populated)
    st = course_stats(populated, week.COURSE, days=7, now=NOW)
    assert st.since == week.day_start(0, NOW).date() and st.until == NOW.date()
    got = {
        (r.day - st.since).days: (r.opens, r.saves, r.executions, r.active, r.new) for r in st.daily
    }
    assert got == week.EXPECTED_DAILY
    assert st.students_total == 3  # amy, bob, cat opened something; dan never did
    assert st.students_enrolled == 4
    assert (st.active_today, st.active_week) == (2, 3)
    assert {n.path: (n.students, n.opens) for n in st.notebooks} == week.EXPECTED_NOTEBOOKS
    assert {
        s.username: (s.notebooks, s.opens, (s.last_day - st.since).days) for s in st.students
    } == week.EXPECTED_STUDENTS
    assert st.heatmap.students == ["amy", "bob", "cat"]
    assert st.heatmap.notebooks == [week.INTRO, week.WEEK2]
    assert st.heatmap.opens == week.EXPECTED_HEATMAP
    assert set(st.staff) == {"ines", "tom", week.ADMIN}
    names = {s.username for s in st.students} | set(st.heatmap.students)
    assert not names & set(st.staff)

    # Today only: the window shrinks, the all-time totals do not.
    today = course_stats(populated, week.COURSE, days=1, now=NOW)
    assert [(r.opens, r.active, r.new) for r in today.daily] == [(3, 2, 0)]
    assert {n.path: (n.students, n.opens) for n in today.notebooks} == {
        week.INTRO: (1, 1),
        week.WEEK2: (1, 2),
    }
    assert today.students_total == 3
    # Everything: starts on the first day anyone (not staff) did something.
    everything = course_stats(populated, week.COURSE, days=None, now=NOW)
    assert everything.since == st.since and len(everything.daily) == 7
    # The course's notebooks nobody opened are listed with zeros.
    listed = course_stats(populated, week.COURSE, days=7, now=NOW, notebooks=["never.ipynb"])
    assert ("never.ipynb", 0, 0) in {(n.path, n.students, n.opens) for n in listed.notebooks}
    # The other course saw only amy's one open.
    other = course_stats(populated, week.OTHER, days=7, now=NOW)
    assert sum(r.opens for r in other.daily) == 1


def test_unknown_course_and_bad_range_are_refused(populated: Database) -> None:
    with pytest.raises(CourseError, match="no course 'nope'"):
        course_stats(populated, "nope", now=NOW)
    with pytest.raises(ValueError):
        course_stats(populated, week.COURSE, days=0, now=NOW)


def test_roll_up_counts_each_event_once(populated: Database, tmp_path: Path) -> None:
    total = len(week.event_rows(NOW))
    assert rollup.roll_up(populated, batch=4) == total  # in batches
    first = _daily_counts(populated)
    assert rollup.roll_up(populated) == 0
    assert _daily_counts(populated) == first
    # A new process (new engine) starts from the stored cursor.
    again = Database(populated.url)
    try:
        assert rollup.roll_up(again) == 0
        with again.session() as s:
            s.execute(
                models.Event.__table__.insert(),
                [week._event("notebook_opened", "amy", week.COURSE, week.INTRO, NOW)],
            )
        assert rollup.roll_up(again) == 1
    finally:
        again.dispose()
    after = _daily_counts(populated)
    key = (week.COURSE, NOW.date(), "amy", week.INTRO)
    assert after[key][0] == first[key][0] + 1
    assert {k: v for k, v in after.items() if k != key} == {
        k: v for k, v in first.items() if k != key
    }


def test_a_roll_up_that_fails_midway_counts_nothing(
    populated: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rollup._add_counts

    def crash(s, counts):  # noqa: ANN001, ANN202 - the counts are written, then it dies
        real(s, counts)
        raise RuntimeError("power cut")

    monkeypatch.setattr(rollup, "_add_counts", crash)
    with pytest.raises(RuntimeError):
        rollup.roll_up(populated)
    assert _daily_counts(populated) == {}
    monkeypatch.setattr(rollup, "_add_counts", real)
    rollup.roll_up(populated)
    st = course_stats(populated, week.COURSE, days=7, now=NOW)
    assert sum(r.opens for r in st.daily) == 9


def _machine(load: float) -> MachineFigures:
    return MachineFigures(load, 10.0 * load, 2e9 * load, 8e9, 5e10, 1e11)


def _server(name: str, course: str, states: tuple[str, ...] | None) -> ServerState:
    kernels = None
    if states is not None:
        kernels = tuple(KernelState(f"k{i}", "python3", st, None, 1) for i, st in enumerate(states))
    return ServerState(name, course, states is not None, None, None, kernels)


def test_samples_count_servers_per_course_and_the_machine(populated: Database) -> None:
    census = [
        _server("amy", week.COURSE, ("busy", "idle")),
        _server("bob", week.COURSE, ("idle",)),
        _server("cat", week.COURSE, None),  # starting: no kernels known
        _server("amy", "", ()),  # a default server: no course
    ]
    record_sample(populated, census, [week.COURSE, week.OTHER], _machine(1.0), NOW)
    record_sample(populated, None, [week.COURSE, week.OTHER], _machine(2.0), NOW)  # hub away
    with populated.session() as s:
        rows = [
            (r.course, r.servers, r.kernels, r.busy_kernels, r.cpu_load)
            for r in s.scalars(select(models.StatSample).order_by(models.StatSample.id))
        ]
    assert rows == [
        ("", 0, 0, 0, 1.0),
        (week.COURSE, 3, 3, 1, None),
        (week.OTHER, 0, 0, 0, None),
        ("", 0, 0, 0, 2.0),
    ]
    real = machine_figures(Path("/"))
    assert real.memory_total and real.memory_used and real.disk_total and real.disk_free
    assert real.cpu_load is not None


def test_raw_samples_become_hourly_averages_and_old_ones_go(populated: Database) -> None:
    raw_retention = timedelta(days=14)
    old = NOW - timedelta(days=15)
    hour = old.replace(minute=0, second=0, microsecond=0)
    with populated.session() as s:
        for minute, servers, load in ((0, 1, 0.5), (20, 2, None), (40, 6, 1.5)):
            at = hour + timedelta(minutes=minute)
            s.add(models.StatSample(at=at, course=week.COURSE, servers=servers, kernels=servers))
            s.add(models.StatSample(at=at, course="", cpu_load=load, memory_total=8.0))
        s.add(models.StatSample(at=hour + timedelta(hours=1), course=week.COURSE, servers=9))
        s.add(models.StatSample(at=NOW - timedelta(days=1), course=week.COURSE, servers=4))
    assert downsample(populated, NOW, raw_retention) == 7
    assert downsample(populated, NOW, raw_retention) == 0  # nothing left to do
    with populated.session() as s:
        rows = s.scalars(select(models.StatSample).order_by(models.StatSample.at)).all()
        got = [(r.resolution, r.course, r.servers, r.cpu_load, r.samples) for r in rows]
        hours = {(r.course, r.at.replace(tzinfo=UTC)) for r in rows if r.resolution == "hour"}
    assert sorted(got[:3]) == [
        ("hour", "", 0.0, 1.0, 3),  # the missing load does not count as zero
        ("hour", week.COURSE, 3.0, None, 3),
        ("hour", week.COURSE, 9.0, None, 1),
    ]
    assert got[3] == ("raw", week.COURSE, 4.0, None, 1)
    assert (week.COURSE, hour) in hours and ("", hour) in hours
    # Charts read hourly rows like raw ones.
    st = course_stats(populated, week.COURSE, days=20, now=NOW)
    assert [(p.at, p.servers) for p in st.servers] == [
        (hour, 3.0),
        (hour + timedelta(hours=1), 9.0),
        (NOW - timedelta(days=1), 4.0),
    ]
    # Past the retention, hourly samples and daily counts go; recent ones stay.
    rollup.roll_up(populated)
    before = _daily_counts(populated)
    assert expire(populated, NOW + timedelta(days=15), timedelta(days=10)) > 0
    with populated.session() as s:
        left = s.scalar(select(func.count()).select_from(models.StatSample))
    assert left == 1  # the recent raw one
    assert _daily_counts(populated) == {
        k: v for k, v in before.items() if k[1] >= (NOW + timedelta(days=5)).date()
    }
    expire(populated, NOW + timedelta(days=400), timedelta(days=10))
    assert _daily_counts(populated) == {}


def test_csv_files_escape_formulas(populated: Database) -> None:
    with populated.session() as s:
        s.execute(
            models.Event.__table__.insert(),
            [week._event("notebook_opened", "=cmd|' /C calc'!A0", week.COURSE, "@x.ipynb", NOW)],
        )
    rollup.roll_up(populated)
    st = course_stats(populated, week.COURSE, days=7, now=NOW)
    for table in TABLES:
        text = to_csv(st, table)
        cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
        assert not any(c[:1] in ("=", "+", "-", "@") for c in cells), table
    students = list(csv.DictReader(io.StringIO(to_csv(st, "students"))))
    assert {r["username"] for r in students} == {"amy", "bob", "cat", "'=cmd|' /C calc'!A0"}
    daily = list(csv.DictReader(io.StringIO(to_csv(st, "daily"))))
    assert [int(r["opens"]) for r in daily] == [3, 1, 0, 2, 0, 0, 4]
    heat = list(csv.reader(io.StringIO(to_csv(st, "heatmap"))))
    assert heat[0] == ["username", "'@x.ipynb", week.INTRO, week.WEEK2]
    assert safe_cell("-1") == "'-1" and safe_cell("ok") == "ok"


# --- the page ----------------------------------------------------------------------


@pytest.fixture
def site(db: Database, tmp_path: Path):  # noqa: ANN201
    now = datetime.now(UTC)
    week.populate(db, tmp_path / "data", tmp_path, now)
    week.add_samples(db, now)
    db.dispose()
    more = {
        "tok-amy": user("amy", ("coursehub-students",)),
        "tok-tom": user("tom", ("coursehub-tas",)),
    }
    return service_on(db.url, tmp_path / "data", more)


def _stats_url(path: str = "") -> str:
    return f"{PREFIX}course/{week.COURSE}/stats{path}"


async def test_staff_see_statistics_students_do_not(site) -> None:  # noqa: ANN001
    async with client(site) as c:
        for token in ("tok-inst", "tok-tom", "tok-admin"):
            page = await c.get(_stats_url(), headers=bearer(token))
            assert page.status_code == 200, token
            assert 'id="stats-data"' in page.text and "uPlot" in page.text
        page = await c.get(_stats_url("?days=7"), headers=bearer("tok-inst"))
        assert "Algebra &amp; Co" in page.text
        for table in TABLES:
            got = await c.get(_stats_url(f"/{table}.csv"), headers=bearer("tok-inst"))
            assert got.status_code == 200, table
            assert got.headers["content-type"].startswith("text/csv")
            assert "attachment" in got.headers["content-disposition"]
        amy_row = await c.get(_stats_url("/students.csv?days=7"), headers=bearer("tok-inst"))
        assert "amy,2,4," in amy_row.text and "ines" not in amy_row.text
        # A student of the course, someone from outside, a bad table, a bad range.
        assert (await c.get(_stats_url(), headers=bearer("tok-amy"))).status_code == 403
        got = await c.get(_stats_url("/students.csv"), headers=bearer("tok-amy"))
        assert got.status_code == 403 and "amy" not in got.text
        assert (await c.get(_stats_url(), headers=bearer("tok-student"))).status_code == 404
        assert (
            await c.get(_stats_url("/secrets.csv"), headers=bearer("tok-inst"))
        ).status_code == 404
        bad = await c.get(_stats_url("?days=-3"), headers=bearer("tok-inst"))
        assert bad.status_code == 400


async def test_the_page_works_with_the_signed_cookie_of_a_browser(site) -> None:  # noqa: ANN001
    async with client(site) as c:
        signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", "tok-inst")
        c.cookies.set("service-coursehub", signed)
        page = await c.get(_stats_url(), headers={"Sec-Fetch-Mode": "navigate"})
        assert page.status_code == 200
        assert f"{PREFIX}static/vendor/uPlot.iife.min.js" in page.text
        js = await c.get(f"{PREFIX}static/vendor/uPlot.iife.min.js")
        assert js.status_code == 200 and "MIT" in js.text[:400]


# --- the command -------------------------------------------------------------------


def _stats_cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coursehub.cli", "--config", str(site / "coursehub.yaml"),
         "stats", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip


def test_the_stats_command_prints_a_summary_without_the_hub(tmp_path: Path) -> None:
    (tmp_path / "coursehub.yaml").write_text("site:\n  data_dir: ./data\n")
    layout = DataLayout(tmp_path / "data")
    layout.root.mkdir()
    with opened_database(f"sqlite:///{layout.coursehub_db_file}") as db:
        now = datetime.now(UTC)
        week.populate(db, layout.root, tmp_path, now)  # events only: the roll-up runs first
        week.add_samples(db, now)

    done = _stats_cli(tmp_path, week.COURSE)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "algebra: last 7 days" in out and "3 staff not counted" in out
    assert "3 opened a notebook, 4 enrolled" in out
    assert "2 today, 3 in the last 7 days" in out
    assert "9 notebook opens, 5 cells run" in out
    lines = [line for line in out.splitlines() if "intro.ipynb" in line or "week2" in line]
    assert [line.replace("│", " ").split() for line in lines] == [
        ["intro.ipynb", "3", "5"],
        ["lab/week2.ipynb", "2", "4"],
    ]
    assert "most 3 servers" in out and "most kernels 6" in out
    assert "Machine:" in out and "of 8.0 GiB" in out
    assert "ines" not in out and "tom" not in out

    one = _stats_cli(tmp_path, week.COURSE, "--days", "1")
    assert one.returncode == 0 and "3 notebook opens" in one.stdout

    unknown = _stats_cli(tmp_path, "nope")
    assert unknown.returncode == 1
    assert "no course named 'nope'" in unknown.stderr and "Traceback" not in unknown.stderr
    bad = _stats_cli(tmp_path, week.COURSE, "--days", "0")
    assert bad.returncode == 2 and "1 or more" in bad.stderr


def test_the_monitor_recorder_rolls_up_samples_and_downsamples(site) -> None:  # noqa: ANN001
    from coursehub.service.tasks.monitor import recorders_for

    record = dict(recorders_for(site))["statistics"]
    now = datetime.now(UTC)
    record([_server("amy", week.COURSE, ("busy",))], now)
    db = context_of(site).database
    with db.session() as s:
        counted = s.scalar(select(func.sum(models.StatDaily.opens)))
        latest = s.scalars(
            select(models.StatSample)
            .where(models.StatSample.at == now)
            .order_by(models.StatSample.course)
        ).all()
        hours = s.scalar(select(func.count()).where(models.StatSample.resolution == "hour"))
    assert counted == 18  # every open with a course, staff included: reports leave them out
    assert [(r.course, r.servers, r.busy_kernels) for r in latest] == [
        ("", 0, 0),
        (week.COURSE, 1, 1),
        (week.OTHER, 0, 0),
    ]
    assert latest[0].memory_total and latest[0].disk_free and latest[0].cpu_percent is not None
    assert hours == 0  # two days of samples are younger than raw_retention


def test_events_purged_by_retention_were_counted_first(populated: Database) -> None:
    from coursehub.events.store import EventStore
    from coursehub.service.tasks.event_retention import purge_once

    with populated.session() as s:
        events = s.scalar(select(func.count()).select_from(models.Event))
    gone = purge_once(EventStore(populated), retention_seconds=0, max_stored=1_000_000)
    with populated.session() as s:
        assert s.scalar(select(func.count()).select_from(models.Event)) == 0
    assert gone == events
    # With no monitor sampling, the week's figures survive the purge all the same.
    st = course_stats(populated, week.COURSE, days=1, now=NOW)
    assert [(r.opens, r.active, r.new) for r in st.daily] == [(3, 2, 0)]


def test_a_retention_of_zero_keeps_the_default_and_deletes_nothing(
    db: Database, tmp_path: Path
) -> None:
    from coursehub.service.tasks.monitor import recorders_for

    now = datetime.now(UTC)
    week.populate(db, tmp_path / "data", tmp_path, now)
    week.add_samples(db, now)
    ops = json.dumps({"stats": {"sample_every": 60, "raw_retention": 0, "retention": 0}})
    site = service_on(db.url, tmp_path / "data", COURSEHUB_OPS=ops)
    dict(recorders_for(site))["statistics"]([], now)
    with db.session() as s:
        daily = s.scalar(select(func.sum(models.StatDaily.opens)))
        raw = s.scalar(select(func.count()).where(models.StatSample.resolution == "raw"))
    assert daily == 18 and raw > 3  # the week's counts and its raw samples are all kept
