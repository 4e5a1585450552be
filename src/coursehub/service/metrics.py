"""Prometheus metrics of the service at /services/coursehub/metrics (docs/metrics.md).

Everything lives on a registry of the app, not prometheus_client's global one, so
several apps (tests) never share counters. Request counters are labelled with the
route *template* (`/open/{course}/{path:path}`), never the raw path: one series per
route, however many students and notebooks there are. Queue, monitor, LMS and backup
figures are read from the database and the backup folder when Prometheus scrapes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coursehub.service.auth import header_token, resolver_of
from coursehub.service.context import context_of
from coursehub.service.errors import CODES
from coursehub.service.identity import HubUnavailable

log = logging.getLogger("coursehub.service")

METRICS_SCOPE = "read:metrics"  # JupyterHub's own scope for /hub/metrics
GRADING_STATES = ("queued", "running", "failed")
GRADING_FORMATS = ("nbgrader", "otter")
OUTBOX_STATES = ("pending", "sending", "failed")
# A server start the service saw begin but never saw finish (the student went away)
# is forgotten after this long, and at most this many are remembered.
START_FORGET_SECONDS = 3600
MAX_STARTS = 10_000
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
START_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


class ServiceMetrics:
    """The app's counters and histograms, and the collectors read at scrape time."""

    def __init__(self, app: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "coursehub_http_requests",
            "HTTP requests answered by the service, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "coursehub_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.events_received = Counter(
            "coursehub_events_received",
            "Notebook events in well-formed POST /api/events bodies.",
            registry=r,
        )
        self.events_stored = Counter(
            "coursehub_events_stored", "Notebook events written to the database.", registry=r
        )
        self.events_rejected = Counter(
            "coursehub_event_posts_rejected",
            "POST /api/events requests refused, by reason "
            "(invalid, forbidden, too_large, rate_limited, error).",
            ["reason"],
            registry=r,
        )
        self.server_start = Histogram(
            "coursehub_link_server_start_seconds",
            "From a notebook link finding the student's course server stopped to the "
            "same link finding it ready (the hub's spawn page in between).",
            buckets=START_BUCKETS,
            registry=r,
        )
        self._starts: OrderedDict[tuple[str, str], float] = OrderedDict()
        r.register(_ScrapeCollector(app))

    def start_seen(self, user: str, server: str) -> None:
        """A link found `user`'s `server` not ready and sent them to start it."""
        key = (user, server)
        if key not in self._starts:
            self._starts[key] = time.monotonic()
        while len(self._starts) > MAX_STARTS:
            self._starts.popitem(last=False)

    def ready_seen(self, user: str, server: str) -> None:
        """A link found the server ready: a start it saw begin has finished."""
        began = self._starts.pop((user, server), None)
        if began is None:
            return
        elapsed = time.monotonic() - began
        if elapsed <= START_FORGET_SECONDS:
            self.server_start.observe(elapsed)


def enabled(app: Any) -> bool:
    return context_of(app).settings.operations.metrics


# --- requests -------------------------------------------------------------------------


def route_label(scope: Scope, prefix: str, static_prefix: str) -> str:
    """The template of the route that answered, relative to the service prefix."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        if scope.get("path", "").startswith(static_prefix):
            return "/static"
        return "unmatched"
    root = prefix.rstrip("/")
    if path.startswith(root + "/"):
        return path[len(root) :]
    # Newer FastAPI keeps included routers nested: the route knows only its path below
    # its router's prefix. Our prefixes are fixed ("/api"), so the part of the request
    # path in front of where the route's own pattern matches is that prefix.
    rest = scope.get("path", "")[len(root) :]
    regex = getattr(route, "path_regex", None)
    if regex is not None:
        for i, char in enumerate(rest):
            if char == "/" and regex.match(rest[i:]):
                return rest[:i] + path
    return path


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, prefix: str, owner: Any) -> None:
        self.app = app
        self.prefix = prefix
        self.static_prefix = prefix + "static/"
        self.owner = owner  # the FastAPI app, whose state holds the metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not enabled(self.owner):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            metrics = context_of(self.owner).metrics
            method = scope.get("method", "")
            if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
                method = "other"  # a hostile verb must not make a new series
            route = route_label(scope, self.prefix, self.static_prefix)
            metrics.requests.labels(method, route, str(status)).inc()
            metrics.latency.labels(method, route).observe(time.perf_counter() - started)


# --- events (called from the events API) ------------------------------------------------

REJECT_REASONS = {400: "invalid", 403: "forbidden", 413: "too_large", 429: "rate_limited"}


def events_received(app: Any, count: int) -> None:
    if enabled(app):
        context_of(app).metrics.events_received.inc(count)


def events_stored(app: Any, count: int) -> None:
    if enabled(app):
        context_of(app).metrics.events_stored.inc(count)


def event_post_rejected(app: Any, status: int) -> None:
    if enabled(app):
        context_of(app).metrics.events_rejected.labels(REJECT_REASONS.get(status, "error")).inc()


# --- read at scrape time ----------------------------------------------------------------


class _ScrapeCollector(Collector):
    """Gauges computed from the database and the backup folder on every scrape."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def describe(self) -> list[Metric]:
        return []  # unknown until collected: no name clash checks needed

    def collect(self) -> Iterator[Metric]:
        settings = context_of(self.app).settings
        parts = [_backup_metrics] + (
            [_grading_metrics, _monitor_metrics, _outbox_metrics] if settings.database_url else []
        )
        for part in parts:
            try:
                yield from part(self.app)
            except Exception as exc:  # noqa: BLE001 - one broken source must not hide the rest
                log.warning("metrics: %s failed: %s", part.__name__, exc.__class__.__name__)


def _database(app: Any) -> Any:

    return context_of(app).database


def _grading_metrics(app: Any) -> Iterator[Metric]:
    from sqlalchemy import func, select

    from coursehub.db.models import Assignment, Grading, Submission

    query = (
        select(Grading.state, Assignment.format, func.count())
        .join(Submission, Submission.id == Grading.submission_id)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .where(Grading.state.in_(GRADING_STATES))
        .group_by(Grading.state, Assignment.format)
    )
    counts = {(state, fmt): 0 for state in GRADING_STATES for fmt in GRADING_FORMATS}
    with _database(app).session() as s:
        for state, fmt, n in s.execute(query):
            counts[(state, fmt)] = n
    family = GaugeMetricFamily(
        "coursehub_grading_runs",
        "Autograding runs that are queued, running or failed, by assignment format.",
        labels=["state", "format"],
    )
    for (state, fmt), n in sorted(counts.items()):
        family.add_metric([state, fmt], n)
    yield family


MONITOR_FIGURES = (
    ("servers", "coursehub_monitor_servers", "Running course servers."),
    ("kernels", "coursehub_monitor_kernels", "Kernels in running course servers."),
    ("busy_kernels", "coursehub_monitor_busy_kernels", "Busy kernels in course servers."),
)
MACHINE_FIGURES = (
    ("cpu_load", "coursehub_monitor_cpu_load", "One-minute load average of the machine."),
    ("memory_used", "coursehub_monitor_memory_used_bytes", "Memory in use on the machine."),
    ("memory_total", "coursehub_monitor_memory_total_bytes", "Memory of the machine."),
    ("disk_free", "coursehub_monitor_disk_free_bytes", "Free space of the data directory."),
)


def _monitor_metrics(app: Any) -> Iterator[Metric]:
    """From the monitor's latest raw sample (absent until it has taken one)."""
    from sqlalchemy import func, select

    from coursehub.db.models import StatSample

    with _database(app).session() as s:
        latest = s.scalar(select(func.max(StatSample.at)).where(StatSample.resolution == "raw"))
        if latest is None:
            return
        rows = list(
            s.scalars(
                select(StatSample).where(StatSample.resolution == "raw", StatSample.at == latest)
            )
        )
    when = latest
    yield GaugeMetricFamily(
        "coursehub_monitor_sample_timestamp_seconds",
        "When the monitor took the sample the coursehub_monitor_* figures come from.",
        value=when.timestamp(),
    )
    courses = sorted((r for r in rows if r.course), key=lambda r: r.course)
    for attr, name, doc in MONITOR_FIGURES:
        family = GaugeMetricFamily(name, doc + " By course.", labels=["course"])
        for row in courses:
            family.add_metric([row.course], getattr(row, attr))
        yield family
    machine = next((r for r in rows if not r.course), None)
    for attr, name, doc in MACHINE_FIGURES:
        value = getattr(machine, attr) if machine is not None else None
        if value is not None:
            yield GaugeMetricFamily(name, doc, value=value)


def _outbox_metrics(app: Any) -> Iterator[Metric]:
    from sqlalchemy import func, select

    from coursehub.db.models import LtiGradeSync

    counts = dict.fromkeys(OUTBOX_STATES, 0)
    with _database(app).session() as s:
        query = (
            select(LtiGradeSync.status, func.count())
            .where(LtiGradeSync.status.in_(OUTBOX_STATES))
            .group_by(LtiGradeSync.status)
        )
        for status, n in s.execute(query):
            counts[status] = n
    family = GaugeMetricFamily(
        "coursehub_lms_grades",
        "Grades waiting to be sent to an LMS (pending, sending) or given up on (failed).",
        labels=["status"],
    )
    for status in OUTBOX_STATES:
        family.add_metric([status], counts[status])
    yield family


def _backup_metrics(app: Any) -> Iterator[Metric]:
    schedule = context_of(app).settings.backup
    if schedule is None:
        return
    folder = schedule.dir
    from coursehub.backups.create import backup_time, list_backups

    found = list_backups(Path(folder))
    yield GaugeMetricFamily(
        "coursehub_backups", "Complete backups in backup.dir.", value=len(found)
    )
    if found:
        age = (datetime.now(UTC) - backup_time(found[-1])).total_seconds()
        yield GaugeMetricFamily(
            "coursehub_backup_age_seconds",
            "Seconds since the newest complete backup in backup.dir was taken.",
            value=max(age, 0.0),
        )


# --- the endpoint ---------------------------------------------------------------------

router = APIRouter()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # The one error shape, also for this path outside /api (Prometheus is no browser).
    body = {"error": {"code": CODES.get(status, "error"), "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    """The metrics, for a hub token with the `read:metrics` scope only."""
    if not enabled(request.app):
        return _error(404, "Metrics are turned off on this site (metrics.enabled).")
    token = header_token(request)
    try:
        user = await resolver_of(request).user_for_token(token) if token else None
    except HubUnavailable:
        return _error(503, "The hub is not answering right now.", {"Retry-After": "5"})
    if user is None:
        return _error(
            401,
            "Send a hub token with the read:metrics scope in the Authorization header.",
            {"WWW-Authenticate": 'Bearer realm="coursehub"'},
        )
    request.state.user_name = user.name
    if METRICS_SCOPE not in user.scopes:
        return _error(403, "This token does not have the read:metrics scope.")
    registry = context_of(request.app).metrics.registry
    body = await asyncio.to_thread(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
