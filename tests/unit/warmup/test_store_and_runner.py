"""Warm-ups in the database and run against a hub (answered in memory): the right
students' servers of the right course, bounded concurrency, memory refusals, claims
that only one runner wins, and unused servers stopped after the class while used ones,
and ones found running, stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from coursehub.config.service_sections import WarmupSection
from coursehub.db import models
from coursehub.db.session import Database
from coursehub.warmup import runner
from coursehub.warmup.hub import HubApi
from coursehub.warmup.memory import MemoryFigures
from coursehub.warmup.schedule import requested_times, times_for
from coursehub.warmup.store import KEEP, MAX_PLANNED, SETTLE_GRACE, WarmupError, WarmupStore
from tests.unit.warmup.fake_hub_api import API, TOKEN, FakeHubApi

MIB = 2**20
SETTINGS = WarmupSection(
    concurrency=2, start_timeout=30, reserve=0, server_memory=50 * MIB, kernel_memory=50 * MIB
)


def roomy() -> MemoryFigures:
    return MemoryFigures(available=100 * 2**30, server_samples=(), kernel_samples=())


def room_for(n: int):  # noqa: ANN201
    return lambda: MemoryFigures(available=n * 100 * MIB, server_samples=(), kernel_samples=())


@pytest.fixture
def site(db: Database) -> Database:
    """Courses algebra (amy, bob, cat, dan: students; ines: instructor; eve: enrolled,
    no account) and physics (zed)."""
    with db.session() as s:
        for course in ("algebra", "physics"):
            s.add(models.Course(name=course, repo_url="/x", branch="main", last_pull_output=""))
        for name in ("amy", "bob", "cat", "dan", "ines", "zed"):
            s.add(models.Account(username=name, role="student"))
        s.flush()
        for name in ("amy", "bob", "cat", "dan", "eve"):
            s.add(models.Enrolment(course="algebra", username=name, role="student"))
        s.add(models.Enrolment(course="algebra", username="ines", role="instructor"))
        s.add(models.Enrolment(course="physics", username="zed", role="student"))
    return db


def hub_of_site() -> FakeHubApi:
    hub = FakeHubApi()
    for name in ("amy", "bob", "cat", "ines", "zed"):  # dan has never signed in
        hub.add_user(name)
    hub.add_user("cat", "algebra", started=datetime.now(UTC) - timedelta(hours=1))
    return hub


def now_warmup(db: Database, course: str = "algebra", runner_name: str = "command") -> int:
    times = requested_times(None, 900, 1800, datetime.now(UTC))
    return WarmupStore(db).create(course, times, "command", "root", runner=runner_name).id


def run(db: Database, hub: FakeHubApi, warmup_id: int, create: bool = False, measure=roomy):  # noqa: ANN001, ANN201
    return asyncio.run(
        runner.run(db, hub.api(), warmup_id, SETTINGS, create_users=create, measure=measure)
    )


def test_the_enrolled_students_get_their_course_server_and_nobody_else(site: Database) -> None:
    hub = hub_of_site()
    result = run(site, hub, now_warmup(site))
    info = result.info
    assert info.state == "done"
    assert sorted(info.named("warmed")) == ["amy", "bob"]
    assert info.named("running") == ["cat"]
    assert info.named("not_signed_in") == ["dan"]
    assert info.named("no_account") == ["eve"]
    started = {(u, c) for u, m in hub.users.items() for c in m["servers"]}
    assert started == {("amy", "algebra"), ("bob", "algebra"), ("cat", "algebra")}
    # nothing for the instructor, for physics' students, for people without accounts
    assert not any("/ines/" in p or "/zed/" in p or "/eve/" in p for _, p in hub.calls)
    assert hub.most_pending <= SETTINGS.concurrency
    assert "2 warmed; 1 already running" in info.message


def test_the_command_tells_the_hub_about_students_who_never_signed_in(site: Database) -> None:
    hub = hub_of_site()
    info = run(site, hub, now_warmup(site), create=True).info
    assert sorted(info.named("warmed")) == ["amy", "bob", "dan"]
    assert "dan" in hub.groups["coursehub-students"]


def test_memory_refuses_beyond_what_fits_and_says_who(site: Database) -> None:
    with site.session() as s:  # bob opened a notebook: he comes first
        s.add(
            models.NotebookCopy(course="algebra", username="bob", path="a.ipynb", source_sha256="0")
        )
    hub = hub_of_site()
    result = run(site, hub, now_warmup(site), measure=room_for(1))
    info = result.info
    assert info.named("warmed") == ["bob"] and info.named("memory") == ["amy"]
    assert "1 refused for memory (each student needs about 100 MiB; left out: amy)" in info.message
    assert "amy" not in {u for u, m in hub.users.items() if m["servers"]}
    assert result.bound is not None and result.bound.fits == 1


def test_a_refused_start_is_a_failure_of_that_student_only(site: Database) -> None:
    hub = hub_of_site()
    hub.refuse["amy"] = 403
    info = run(site, hub, now_warmup(site)).info
    assert info.named("failed") == ["amy"] and info.named("warmed") == ["bob"]
    assert "no for amy" in info.servers[0].detail


def test_one_runner_claims_a_warm_up(site: Database) -> None:
    store = WarmupStore(site)
    now = datetime.now(UTC)
    planned = store.create("algebra", times_for(now, 0, 60, now), "staff page", "ines")
    assert store.due(now + timedelta(seconds=1)) == [planned.id]
    assert store.claim(planned.id, "service")
    assert not store.claim(planned.id, "command")
    assert store.due(now + timedelta(seconds=1)) == []


def test_cancel_only_the_course_s_own_warm_ups(site: Database) -> None:
    store = WarmupStore(site)
    now = datetime.now(UTC)
    later = store.create("physics", times_for(now + timedelta(hours=2), 900, 60, now), "command")
    with pytest.raises(WarmupError, match="has no warm-up"):
        store.cancel("algebra", later.id)
    assert store.get(later.id).state == "scheduled"
    assert "will not run" in store.cancel("physics", later.id)
    assert store.get(later.id).state == "cancelled"
    assert store.due(now + timedelta(days=1)) == []


def test_course_yaml_lectures_are_planned_once_and_follow_the_file(site: Database) -> None:
    store = WarmupStore(site)
    now = datetime.now(UTC)
    monday = times_for(now + timedelta(days=3), 900, 1800, now)
    assert store.sync_lecture("algebra", monday) is not None
    assert store.sync_lecture("algebra", monday) is None  # already planned
    cancelled = store.of_course("algebra")[0]
    store.cancel("algebra", cancelled.id)
    assert store.sync_lecture("algebra", monday) is None  # cancelled stays cancelled
    tuesday = times_for(now + timedelta(days=4), 900, 1800, now)
    store.sync_lecture("algebra", tuesday)
    store.sync_lecture("algebra", None)  # the file lists no lecture any more
    assert [w.state for w in store.of_course("algebra")] == ["cancelled"]


def test_unused_servers_are_stopped_after_the_class_used_and_found_ones_stay(
    site: Database,
) -> None:
    hub = hub_of_site()
    hub.add_user("dan")
    warmup_id = now_warmup(site)
    info = run(site, hub, warmup_id).info
    assert sorted(info.named("warmed")) == ["amy", "bob", "dan"]
    store = WarmupStore(site)
    now = datetime.now(UTC)
    spared = store.protected(now)
    assert set(spared) == {
        ("amy", "algebra"),
        ("bob", "algebra"),
        ("cat", "algebra"),
        ("dan", "algebra"),
    }
    assert store.to_settle(now) == []  # not before the class has been on for unused_after
    # amy signed in to her server in a browser; dan opened a course link; bob did nothing
    later = (datetime.now(UTC) + timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    hub.tokens["amy"] = [
        {
            "oauth_client": "JupyterHub",
            "note": "Server at /user/amy/algebra/",
            "last_activity": later,
        },
        {"oauth_client": "Server at /user/amy/algebra/", "created": later, "last_activity": later},
    ]
    hub.tokens["bob"] = [  # the server's own token and the service's: not a student's use
        {
            "oauth_client": "JupyterHub",
            "note": "Server at /user/bob/algebra/",
            "last_activity": later,
        },
    ]
    with site.session() as s:
        s.add(
            models.NotebookCopy(course="algebra", username="dan", path="a.ipynb", source_sha256="0")
        )
    store.cancel("algebra", warmup_id)  # as at the class start + unused_after
    assert store.to_settle(datetime.now(UTC)) == [warmup_id]
    # spared still, until the service has looked (or, without one, a grace time after)
    assert set(store.protected(datetime.now(UTC))) == set(spared)
    assert store.protected(datetime.now(UTC) + SETTLE_GRACE) == {}
    counts = asyncio.run(runner.settle(site, hub.api(), warmup_id))
    assert counts == {"used": 2, "stopped": 1, "kept": 1}
    settled = {s.username: s.settled for s in store.get(warmup_id).servers if s.settled}
    assert settled == {"amy": "used", "bob": "stopped", "cat": "kept", "dan": "used"}
    assert "algebra" not in hub.users["bob"]["servers"]
    assert "algebra" in hub.users["cat"]["servers"]  # found running: never the warm-up's to stop
    assert store.to_settle(datetime.now(UTC)) == []
    assert store.protected(datetime.now(UTC)) == {}


def test_a_server_the_hub_says_nothing_about_is_kept(site: Database) -> None:
    hub = hub_of_site()
    warmup_id = now_warmup(site)
    run(site, hub, warmup_id)
    WarmupStore(site).cancel("algebra", warmup_id)

    def tokens_fail(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tokens"):
            return httpx.Response(500, json={"message": "hub trouble"})
        return hub.handle(request)

    api = HubApi(httpx.AsyncClient(transport=httpx.MockTransport(tokens_fail)), API, TOKEN)
    counts = asyncio.run(runner.settle(site, api, warmup_id))
    assert counts == {"kept": 3}
    assert all("algebra" in hub.users[n]["servers"] for n in ("amy", "bob"))


def test_a_restart_ends_the_service_s_running_warm_ups(site: Database) -> None:
    store = WarmupStore(site)
    mine = now_warmup(site, runner_name="service")
    theirs = now_warmup(site, runner_name="command")
    assert store.interrupted("service") == [mine]
    assert store.get(mine).state == "failed" and store.get(theirs).state == "running"


def test_a_large_class_is_read_from_the_hub_s_user_list(site: Database, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr("coursehub.warmup.hub.PAGE", 7)
    names = [f"s{i:02d}" for i in range(runner.LIST_ABOVE + 5)]
    with site.session() as s:
        for name in names:
            s.add(models.Account(username=name, role="student"))
            s.add(models.Enrolment(course="physics", username=name, role="student"))
    hub = hub_of_site()
    for name in names[1:]:  # s00 never signed in
        hub.add_user(name)
    hub.add_user("s01", "physics")
    info = run(site, hub, now_warmup(site, course="physics")).info
    assert info.named("not_signed_in") == ["s00"] and info.named("running") == ["s01"]
    assert len(info.named("warmed")) == len(names) - 2 + 1  # and zed
    # nobody was looked up one by one before their start (only waited for after it)
    first_start = next(i for i, (m, _) in enumerate(hub.calls) if m == "POST")
    assert all(p == "/users" for m, p in hub.calls[:first_start] if m == "GET")
    assert sum(p == "/users" for _, p in hub.calls) == (len(hub.users) + 6) // 7
    assert hub.most_pending <= SETTINGS.concurrency


def test_staff_cannot_plan_without_end(site: Database) -> None:
    store = WarmupStore(site)
    now = datetime.now(UTC)
    for hours in range(1, MAX_PLANNED + 1):
        store.create("algebra", times_for(now + timedelta(hours=hours), 900, 60, now), "staff page")
    with pytest.raises(WarmupError, match="cancel some first"):
        store.create("algebra", times_for(now + timedelta(days=2), 900, 60, now), "staff page")


def test_old_warm_ups_are_forgotten(site: Database) -> None:
    store = WarmupStore(site)
    now = datetime.now(UTC)
    old = now_warmup(site)
    store.finish(old, "done", "2 warmed.")
    assert store.forget_old(now) == 0
    assert store.forget_old(now + KEEP + timedelta(days=1)) == 1
    assert store.get(old) is None
