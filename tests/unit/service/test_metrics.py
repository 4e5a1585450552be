"""The service's Prometheus metrics: who may read them, and that they move.

The hub is faked (tokens → users with their scopes, see tests/helpers/fake_hub.py);
the database is a real SQLite file with real rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from coursehub.db import models
from coursehub.db.session import Database
from coursehub.service.context import context_of
from coursehub.service.identity import HubUser
from coursehub.service.metrics import ServiceMetrics
from tests.helpers.fake_hub import ACCESS, PREFIX, USERS, FakeResolver, assert_error, bearer, client
from tests.helpers.fake_hub import build as build_app

METRICS = PREFIX + "metrics"
PROMETHEUS = HubUser("prometheus", scopes=frozenset({"read:metrics"}), kind="service")


def _users() -> dict[str, HubUser]:
    users = dict(USERS)
    users["tok-prom"] = PROMETHEUS
    # a hub admin's token: JupyterHub's admin role includes read:metrics
    users["tok-hubadmin"] = HubUser("ada", admin=True, scopes=frozenset({ACCESS, "read:metrics"}))
    return users


@pytest.fixture
def site(db: Database, tmp_path: Path):  # noqa: ANN201
    with db.session() as s:
        s.add(models.Course(name="algebra", repo_url="/x", branch="main", last_pull_output=""))
        s.add(models.Enrolment(course="algebra", username="sam", role="student"))
    app, _ = build_app(
        FakeResolver(_users()),
        COURSEHUB_DATABASE_URL=db.url,
        COURSEHUB_DATA_DIR=str(tmp_path / "data"),
        COURSEHUB_BACKUP=json.dumps({"dir": str(tmp_path / "backups"), "every_seconds": 86400}),
    )
    return app, db, tmp_path


async def scrape(c, token: str = "tok-prom") -> dict[tuple[str, tuple], float]:
    r = await c.get(METRICS, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_only_a_token_with_the_metrics_scope_reads_them(site) -> None:
    app, _db, _ = site
    async with client(app) as c:
        for token in ("tok-student", "tok-inst", "tok-admin"):
            # coursehub's own admins need a token the hub gave read:metrics
            assert_error(await c.get(METRICS, headers=bearer(token)), 403, "forbidden")
        assert_error(await c.get(METRICS), 401, "not_authenticated")
        assert_error(await c.get(METRICS, headers=bearer("nonsense")), 401, "not_authenticated")
        await scrape(c, "tok-prom")
        await scrape(c, "tok-hubadmin")


async def test_metrics_turned_off_are_not_found(tmp_path: Path) -> None:
    app, _ = build_app(FakeResolver(_users()), COURSEHUB_OPS=json.dumps({"metrics": False}))
    async with client(app) as c:
        assert_error(await c.get(METRICS, headers=bearer("tok-prom")), 404, "not_found")


async def test_requests_are_counted_by_route_template_not_path(site) -> None:
    app, _db, _ = site
    async with client(app) as c:
        for n in range(3):
            await c.get(PREFIX + f"open/algebra/week{n}/intro.ipynb", headers=bearer("tok-student"))
        await c.get(PREFIX + "health")
        await c.get(PREFIX + "api/whoami", headers=bearer("tok-student"))
        await c.get(PREFIX + "no/such/page/for/sam")
        samples = await scrape(c)
    opens = {
        labels: v
        for (name, labels), v in samples.items()
        if name == "coursehub_http_requests_total"
        and ("route", "/open/{course}/{path:path}") in labels
    }
    assert sum(opens.values()) == 3
    routes = {
        dict(labels)["route"]
        for (name, labels) in samples
        if name == "coursehub_http_requests_total"
    }
    assert {"/health", "/api/whoami", "unmatched"} <= routes
    assert not [r for r in routes if "week" in r or "sam" in r or "algebra" in r]
    assert (
        value(
            samples, "coursehub_http_request_duration_seconds_count", method="GET", route="/health"
        )
        == 1
    )


async def test_event_counters_move_with_posts(site) -> None:
    app, _db, _ = site
    event = {
        "type": "notebook_saved",
        "course": "algebra",
        "path": "w1/a.ipynb",
        "filename": "a.ipynb",
    }
    async with client(app) as c:
        before = await scrape(c)
        assert (
            await c.post(PREFIX + "api/events", json=[event] * 3, headers=bearer("tok-student"))
        ).status_code == 201
        r = await c.post(PREFIX + "api/events", content=b"{not json", headers=bearer("tok-student"))
        assert r.status_code == 400
        r = await c.post(
            PREFIX + "api/events", json=event | {"user": "ines"}, headers=bearer("tok-student")
        )
        assert r.status_code == 403
        after = await scrape(c)
    moved = {
        name: value(after, name, **labels) - value(before, name, **labels)
        for name, labels in [
            ("coursehub_events_received_total", {}),
            ("coursehub_events_stored_total", {}),
        ]
    }
    assert moved == {"coursehub_events_received_total": 4, "coursehub_events_stored_total": 3}
    assert value(after, "coursehub_event_posts_rejected_total", reason="invalid") == 1
    assert value(after, "coursehub_event_posts_rejected_total", reason="forbidden") == 1


def _grading_rows(db: Database) -> None:
    with db.session() as s:
        for n, fmt in enumerate(("nbgrader", "otter")):
            s.add(models.Assignment(id=n + 1, course="algebra", name=f"hw{n}", format=fmt))
        s.flush()
        states = {1: ["queued", "queued", "running", "done"], 2: ["failed", "queued"]}
        for assignment, runs in states.items():
            for k, state in enumerate(runs):
                sub = models.Submission(
                    assignment_id=assignment, username=f"s{k}", attempt=1, sha256="0" * 64
                )
                s.add(sub)
                s.flush()
                s.add(models.Grading(submission_id=sub.id, state=state))


async def test_grading_queue_gauges_reflect_the_database(site) -> None:
    app, db, _ = site
    async with client(app) as c:
        empty = await scrape(c)
        assert value(empty, "coursehub_grading_runs", state="queued", format="otter") == 0
        assert ("coursehub_grading_runs", (("format", "otter"), ("state", "queued"))) in empty
        _grading_rows(db)
        samples = await scrape(c)
    assert value(samples, "coursehub_grading_runs", state="queued", format="nbgrader") == 2
    assert value(samples, "coursehub_grading_runs", state="running", format="nbgrader") == 1
    assert value(samples, "coursehub_grading_runs", state="failed", format="otter") == 1
    assert value(samples, "coursehub_grading_runs", state="queued", format="otter") == 1
    assert not [
        k for k in samples if k[0] == "coursehub_grading_runs" and ("state", "done") in k[1]
    ]


async def test_monitor_outbox_and_backup_figures(site) -> None:
    app, db, tmp_path = site
    async with client(app) as c:
        samples = await scrape(c)
        # no sample yet, no backup yet: the figures are absent, the count says none
        assert not [k for k in samples if k[0].startswith("coursehub_monitor_")]
        assert value(samples, "coursehub_backups") == 0
        assert ("coursehub_backup_age_seconds", ()) not in samples

        now = datetime.now(UTC).replace(microsecond=0)
        with db.session() as s:
            old = now - timedelta(minutes=1)
            s.add(models.StatSample(at=old, course="algebra", servers=9, kernels=9))
            s.add(models.StatSample(at=now, course="algebra", servers=3, kernels=4, busy_kernels=1))
            s.add(models.StatSample(at=now, course="", disk_free=5e9, cpu_load=0.5))
            ctx = models.LtiContext(
                platform_id=_platform(s), context_id="c1", course="algebra", title="A"
            )
            s.add(ctx)
            s.flush()
            for k, status in enumerate(("pending", "pending", "failed", "sent")):
                s.add(
                    models.LtiGradeSync(
                        context_pk=ctx.id,
                        course="algebra",
                        assignment="hw",
                        username=f"s{k}",
                        status=status,
                    )
                )
        stamp = (now - timedelta(hours=5)).strftime("%Y%m%dT%H%M%SZ")
        backup = tmp_path / "backups" / stamp
        backup.mkdir(parents=True)
        (backup / "manifest.sha256").write_text("")
        samples = await scrape(c)
    assert value(samples, "coursehub_monitor_servers", course="algebra") == 3
    assert value(samples, "coursehub_monitor_kernels", course="algebra") == 4
    assert value(samples, "coursehub_monitor_busy_kernels", course="algebra") == 1
    assert value(samples, "coursehub_monitor_disk_free_bytes") == 5e9
    assert value(samples, "coursehub_monitor_sample_timestamp_seconds") == now.timestamp()
    assert value(samples, "coursehub_lms_grades", status="pending") == 2
    assert value(samples, "coursehub_lms_grades", status="failed") == 1
    assert value(samples, "coursehub_backups") == 1
    assert 5 * 3600 <= value(samples, "coursehub_backup_age_seconds") < 6 * 3600


def _platform(s) -> int:  # noqa: ANN001
    platform = models.LtiPlatform(
        name="moodle",
        issuer="https://lms.example",
        client_id="c",
        auth_login_url="https://lms.example/a",
        auth_token_url="https://lms.example/t",
        key_set_url="https://lms.example/k",
    )
    s.add(platform)
    s.flush()
    return platform.id


def test_server_start_time_is_from_stopped_to_ready_as_links_see_it() -> None:
    app, _ = build_app()
    metrics = ServiceMetrics(app)
    metrics.ready_seen("sam", "algebra")  # ready without a start seen: nothing to time
    metrics.start_seen("sam", "algebra")
    metrics.start_seen("sam", "algebra")  # the spawn page reloaded: still the first start
    metrics.ready_seen("sam", "algebra")
    metrics.ready_seen("sam", "algebra")  # later opens of a running server: not a start
    count = metrics.registry.get_sample_value("coursehub_link_server_start_seconds_count")
    assert count == 1


def test_two_apps_keep_their_own_counters() -> None:
    a, _ = build_app()
    b, _ = build_app()

    context_of(a).metrics.events_stored.inc(5)
    assert context_of(b).metrics.registry.get_sample_value("coursehub_events_stored_total") == 0
