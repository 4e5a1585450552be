"""Disk use per student: what the monitor measures in real homes on this disk, how the
work is spread and throttled, and what students and staff see about the soft quota.

Homes are real folders in tmp (demo-mode homes: one account owns them all); the hub
is faked (tests/helpers/fake_hub.py), the database and course store are real.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from coursehub.config.layout import DataLayout
from coursehub.courses.store import CourseStore
from coursehub.db import models
from coursehub.db.session import Database
from coursehub.monitor.disk_usage import DiskMeter, HomeWalk, human_size, read_usage
from coursehub.service.tasks.monitor import recorders_for
from tests.helpers.coursedb import add_courses
from tests.helpers.fake_hub import PREFIX, bearer, client, service_on, user
from tests.helpers.gitrepo import make_repo

KIB = 1024
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _write(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def _blocks(*paths: Path) -> int:
    return sum(os.lstat(p).st_blocks * 512 for p in paths)


@pytest.fixture
def store(tmp_path: Path, course_store: CourseStore) -> CourseStore:
    notebook = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    repo = make_repo(tmp_path / "repo", {"lab/one.ipynb": notebook})
    return add_courses(course_store, repo, {"algebra": {}, "physics": {}})


def _rows(db: Database) -> dict[tuple[str, str], tuple[int, int, datetime]]:
    with db.session() as s:
        return {
            (r.username, r.course): (r.bytes, r.files, r.measured_at)
            for r in s.scalars(select(models.DiskUsage))
        }


def _meter(db: Database, homes: Path, **kw) -> DiskMeter:
    return DiskMeter(db, lambda name: homes / name, **kw)


def test_a_home_counts_allocated_blocks_per_course_and_follows_no_link(tmp_path: Path) -> None:
    home = tmp_path / "homes" / "sam"
    algebra = home / "courses" / "algebra"
    a1 = _write(algebra / "lab" / "data.bin", 300 * KIB)
    a2 = _write(algebra / "notes.txt", 5 * KIB)
    sparse = algebra / "sparse.img"  # 1 GiB long, one block really used
    with open(sparse, "wb") as f:
        f.truncate(1 << 30)
        f.write(b"x")
    os.link(a1, algebra / "data-again.bin")  # a hard link takes no more space
    p1 = _write(home / "courses" / "physics" / "run.csv", 40 * KIB)
    own = _write(home / ".cache" / "pip.whl", 60 * KIB)
    outside = _write(tmp_path / "elsewhere" / "huge.bin", 2048 * KIB)
    (home / "link-to-elsewhere").symlink_to(outside.parent)
    (algebra / "link-to-file").symlink_to(outside)
    _write(home / "courses" / "old-course" / "x.bin", 8 * KIB)  # not enrolled any more

    walk = HomeWalk.start("sam", home, ["algebra", "physics"])
    assert walk is not None and walk.step(float("inf"))

    files = (a1, a2, sparse, p1, own)
    assert walk.total.files == 5 + 1  # and old-course's file; links and the hard link not
    assert _blocks(*files) <= walk.total.bytes < _blocks(*files) + 200 * KIB  # folders, links
    assert walk.total.bytes < 1024 * KIB  # neither the sparse length nor what links point to
    assert _blocks(a1, a2, sparse) <= walk.per_course["algebra"].bytes < walk.total.bytes
    assert walk.per_course["algebra"].files == 3
    assert walk.per_course["physics"].files == 1
    assert set(walk.per_course) == {"algebra", "physics"}
    assert os.stat(sparse).st_size == (1 << 30)  # the apparent size that must not count


def test_a_folder_swapped_for_a_link_mid_walk_is_not_followed(tmp_path: Path) -> None:
    home = tmp_path / "homes" / "sam"
    _write(home / "work" / "a.txt", KIB)
    elsewhere = _write(tmp_path / "other-home" / "secret.bin", 1024 * KIB).parent
    walk = HomeWalk.start("sam", home, [])
    assert walk is not None
    ticks = iter(range(100))
    assert not walk.step(1, clock=lambda: next(ticks))  # listed the home, stopped there
    # the student swaps the folder about to be listed for a link to somewhere else
    (home / "work" / "a.txt").unlink()
    (home / "work").rmdir()
    (home / "work").symlink_to(elsewhere)
    assert walk.step(float("inf"))
    assert walk.total.files == 0 and walk.total.bytes < 64 * KIB


def test_no_home_no_walk(tmp_path: Path) -> None:
    assert HomeWalk.start("sam", tmp_path / "missing", []) is None
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    assert HomeWalk.start("sam", tmp_path / "linked", []) is None


def test_rounds_are_throttled_and_gone_people_forgotten(
    tmp_path: Path, db: Database, store: CourseStore
) -> None:
    homes = tmp_path / "homes"
    store.enrol("algebra", "sam")
    store.enrol("physics", "sam")
    store.enrol("algebra", "tara")
    _write(homes / "sam" / "courses" / "algebra" / "a.bin", 100 * KIB)
    _write(homes / "sam" / "courses" / "physics" / "p.bin", 10 * KIB)
    _write(homes / "tara" / "t.bin", 20 * KIB)
    meter = _meter(db, homes)

    meter(None, T0)
    rows = _rows(db)
    assert set(rows) == {("sam", ""), ("sam", "algebra"), ("sam", "physics"), ("tara", "")}
    assert rows[("sam", "algebra")][1] == 1 and rows[("sam", "")][1] == 2
    assert rows[("sam", "algebra")][0] >= 100 * KIB > rows[("sam", "physics")][0]
    first = rows[("sam", "")]

    # a minute later (the next sample): nothing is measured again
    _write(homes / "sam" / "more.bin", 500 * KIB)
    meter(None, T0 + timedelta(minutes=1))
    assert _rows(db)[("sam", "")] == first

    # tara leaves, sam's physics workspace is deleted; the next round reflects both
    store.unenrol("algebra", "tara")
    for f in (homes / "sam" / "courses" / "physics").iterdir():
        f.unlink()
    (homes / "sam" / "courses" / "physics").rmdir()
    meter(None, T0 + timedelta(minutes=10))
    rows = _rows(db)
    assert set(rows) == {("sam", ""), ("sam", "algebra")}
    # more.bin counted, the physics workspace (about 14 KiB) no longer
    assert first[0] + 400 * KIB < rows[("sam", "")][0] < first[0] + 500 * KIB
    assert rows[("sam", "")][1] == 2


def test_a_large_class_is_measured_a_slice_per_call(
    tmp_path: Path, db: Database, store: CourseStore
) -> None:
    homes = tmp_path / "homes"
    names = [f"s{i:02}" for i in range(12)]
    store.enrol_many("algebra", names)
    for name in names:
        for d in range(3):
            _write(homes / name / "courses" / "algebra" / f"d{d}" / "f.txt", KIB)
    ticks = iter(range(10**6))  # each look at the clock is one second later
    meter = _meter(db, homes, budget=10, clock=lambda: float(next(ticks)))

    meter(None, T0)
    done_first = {u for u, c in _rows(db) if c == ""}
    assert 0 < len(done_first) < len(names)  # some homes now, the rest later
    calls = 1
    while meter.pending or meter.current is not None:
        meter(None, T0 + timedelta(minutes=calls))
        calls += 1
        assert calls < 100
    assert {u for u, c in _rows(db) if c == ""} == set(names)
    assert all(read_usage(db, names)[n].files == 3 for n in names)


def test_crossing_the_quota_is_logged_once(
    tmp_path: Path, db: Database, store: CourseStore, caplog: pytest.LogCaptureFixture
) -> None:
    homes = tmp_path / "homes"
    store.enrol("algebra", "sam")
    _write(homes / "sam" / "a.bin", 50 * KIB)
    meter = _meter(db, homes, quota=200 * KIB)
    caplog.set_level(logging.INFO, "coursehub.monitor")

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    meter(None, T0)
    assert warnings() == []
    _write(homes / "sam" / "b.bin", 300 * KIB)
    meter(None, T0 + timedelta(minutes=10))
    meter(None, T0 + timedelta(minutes=20))
    assert len(warnings()) == 1 and "sam uses" in warnings()[0]
    assert "over the soft quota of 200.0 KiB" in warnings()[0]
    (homes / "sam" / "b.bin").unlink()
    meter(None, T0 + timedelta(minutes=30))
    assert any("back under" in r.getMessage() for r in caplog.records)
    _write(homes / "sam" / "b.bin", 300 * KIB)
    meter(None, T0 + timedelta(minutes=40))
    assert len(warnings()) == 2  # over again: said again


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 1023, 1536, 5 * 1024**3, 3 * 1024**4)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "5.0 GiB",
        "3.0 TiB",
    ]


# pages


def _site(tmp_path: Path, store: CourseStore, quota: int | None):  # noqa: ANN202
    store.enrol("algebra", "sam")
    store.enrol("algebra", "sue")
    store.enrol("algebra", "ines", "instructor")
    homes = tmp_path / "homes"
    _write(homes / "sam" / "courses" / "algebra" / "big.bin", 600 * KIB)
    _write(homes / "sue" / "courses" / "algebra" / "small.bin", 10 * KIB)
    app = service_on(
        store.db.url,
        store.layout.root,
        {"tok-sue": user("sue", ("coursehub-students",))},
        COURSEHUB_SPAWN_BACKEND="demo",
        COURSEHUB_DEMO_HOME_ROOT=str(homes),
        COURSEHUB_OPS=json.dumps({"quota_soft": quota}),
    )
    dict(recorders_for(app))["disk use"](None, T0)  # the monitor's own recorder for this app
    return app


async def test_a_student_over_the_quota_is_warned_and_the_staff_see_it(
    tmp_path: Path, store: CourseStore
) -> None:
    app = _site(tmp_path, store, quota=256 * KIB)
    async with client(app) as c:
        for url in (f"{PREFIX}course/algebra", PREFIX):
            page = await c.get(url, headers=bearer("tok-student"))
            assert page.status_code == 200
            assert 'id="disk-notice"' in page.text, url
            assert "more than the 256.0 KiB" in page.text
            assert "Clear Outputs" in page.text and "reset notebooks" in page.text
            # sue is under the quota: no warning, and nothing of sam's
            other = await c.get(url, headers=bearer("tok-sue"))
            assert other.status_code == 200
            assert "disk-notice" not in other.text and "KiB" not in other.text

        staff = await c.get(f"{PREFIX}course/algebra/staff", headers=bearer("tok-inst"))
        assert staff.status_code == 200
        assert "<th>Disk</th>" in staff.text
        summary = " ".join(staff.text.split('id="disk-summary"')[1].split("</p>")[0].split())
        assert "<strong>1 student over the soft quota</strong> of 256.0 KiB" in summary
        sam_row = staff.text.split('data-user="sam"')[1].split("</tr>")[0]
        assert "over quota" in sam_row and "KiB in this course" in sam_row
        sue_row = staff.text.split('data-user="sue"')[1].split("</tr>")[0]
        assert "over quota" not in sue_row and "KiB" in sue_row
        ines_row = staff.text.split('data-user="ines"')[1].split("</tr>")[0]
        assert "not measured" in ines_row  # no home yet

        # students never see the staff page (and so nobody else's figures)
        r = await c.get(f"{PREFIX}course/algebra/staff", headers=bearer("tok-sue"))
        assert r.status_code == 403 and "KiB" not in r.text


async def test_without_a_quota_nobody_is_warned(tmp_path: Path, store: CourseStore) -> None:
    app = _site(tmp_path, store, quota=None)
    async with client(app) as c:
        for url in (f"{PREFIX}course/algebra", PREFIX):
            page = await c.get(url, headers=bearer("tok-student"))
            assert page.status_code == 200 and "disk-notice" not in page.text
        staff = await c.get(f"{PREFIX}course/algebra/staff", headers=bearer("tok-inst"))
        assert "No soft quota is set" in staff.text and "over quota" not in staff.text
        sam_row = staff.text.split('data-user="sam"')[1].split("</tr>")[0]
        assert "KiB" in sam_row  # the figures are shown all the same


def test_users_list_shows_disk_use(tmp_path: Path) -> None:
    from tests.unit.cli.test_cli import coursehub

    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text("site:\n  data_dir: ./data\nquota:\n  soft: 1M\n")
    for name in ("ann", "bob", "cy"):
        added = coursehub("--config", str(cfg), "users", "add", name)
        assert added.returncode == 0, added.stderr
    db = Database(f"sqlite:///{DataLayout(tmp_path / 'data').coursehub_db_file}")
    with db.session() as s:  # what the monitor would have measured
        s.add(models.DiskUsage(username="ann", course="", bytes=3 * 1024**2, files=9))
        s.add(models.DiskUsage(username="bob", course="", bytes=512 * KIB, files=2))
    db.dispose()
    listed = coursehub("--config", str(cfg), "users", "list")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[1]: line for line in listed.stdout.splitlines() if "│" in line[:2]}
    assert "3.0 MiB (over quota)" in lines["ann"]
    assert "512.0 KiB" in lines["bob"] and "over" not in lines["bob"]
    assert "cy" in lines and "KiB" not in lines["cy"]
