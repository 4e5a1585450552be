"""What the service's routes and tasks share for one app, typed, in one place.

`create_app` makes one ServiceContext and routes reach it with `context_of(request.app)`;
nothing else lives on `app.state`. The stores and clients are made on first use (a
page that needs no database never opens one), once per app.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import jinja2

from coursehub.config.layout import DataLayout
from coursehub.service.identity import IdentityResolver
from coursehub.service.settings import ServiceSettings

if TYPE_CHECKING:
    from coursehub.courses.progress import ProgressStore
    from coursehub.courses.shares import ShareStore
    from coursehub.courses.store import CourseStore
    from coursehub.courses.student_files import StudentFiles
    from coursehub.db.session import Database
    from coursehub.events.broker import LiveBroker
    from coursehub.events.ingest import EventWriter
    from coursehub.events.live import LiveStore
    from coursehub.events.ratelimit import RateLimiter
    from coursehub.events.store import EventStore
    from coursehub.grading.remote_auth import RemoteAuthSettings
    from coursehub.lti.key_sets import KeySets
    from coursehub.lti.service_token import ServiceTokens
    from coursehub.monitor.server_tokens import ServerTokens
    from coursehub.monitor.stop_notices import StopNotices
    from coursehub.service.metrics import ServiceMetrics
    from coursehub.service.routes.health import HealthChecker
    from coursehub.service.tasks.grading import GradingService

# the LMS token client is made by the grade sender and the roster sync, which start together
_making_tokens = threading.Lock()
# Backends where students have no Unix account on this machine: their own server
# places course files (courses/student_files.py).
SERVER_PLACED = ("docker", "kubernetes")


@dataclass(eq=False)
class ServiceContext:
    settings: ServiceSettings
    resolver: IdentityResolver
    health: HealthChecker
    templates: jinja2.Environment
    cookie_key: bytes
    app: Any = field(repr=False)  # the metrics' collectors read the app at scrape time
    # (user, course) -> (monotonic time, role): the events API's membership cache
    event_roles: dict[tuple[str, str], tuple[float, str | None]] = field(default_factory=dict)
    # one change at a time per (course key, activity) of the remote grading API
    remote_locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    def made(self, name: str) -> bool:
        """Whether the part `name` has been made (so it needs closing)."""
        return name in self.__dict__

    @cached_property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.settings.data_dir))

    @cached_property
    def database(self) -> Database:
        from coursehub.db.session import Database

        return Database(self.settings.database_url or "")

    @cached_property
    def courses(self) -> CourseStore:
        from coursehub.courses.store import CourseStore

        return CourseStore(self.database, self.layout)

    @cached_property
    def progress(self) -> ProgressStore:
        from coursehub.courses.progress import ProgressStore

        return ProgressStore(self.database)

    @cached_property
    def shares(self) -> ShareStore:
        from coursehub.courses.shares import ShareStore

        return ShareStore(self.database, self.layout.shares)

    @cached_property
    def hub_api(self) -> httpx.AsyncClient:
        """One client for the hub API for the app's lifetime (closed at shutdown): making
        one per request costs tens of ms of CPU on the event loop (TLS set-up)."""
        return httpx.AsyncClient(timeout=10, verify=self.settings.api_url.startswith("https:"))

    @cached_property
    def server_tokens(self) -> ServerTokens:
        """Single-server tokens for asking students' servers anything: the service's own
        token never goes to a server (monitor/server_tokens.py)."""
        from coursehub.monitor.server_tokens import ServerTokens

        return ServerTokens(self.settings.api_url, self.settings.api_token)

    @cached_property
    def stop_notices(self) -> StopNotices:
        """What course staff stopped, for the students' JupyterLab (in memory: notices
        matter for the minutes around a stop; monitor/stop_notices.py)."""
        from coursehub.monitor.stop_notices import StopNotices

        return StopNotices()

    @cached_property
    def student_files(self) -> StudentFiles:
        """Where course files are placed as the student: by their Unix account on this
        machine, or, in containers and pods (no account here), by their own server."""
        from coursehub.courses.student_files import HostFiles, ServerFiles

        settings = self.settings
        if settings.spawn_backend in SERVER_PLACED:
            return ServerFiles(
                proxy_url=settings.operations.proxy_url,
                base_url=settings.base_url,
                tokens=self.server_tokens,
                client=self.hub_api,
                subdomain_host=settings.subdomain_host,
            )
        from coursehub.service.course_access import host_student

        return HostFiles(self.layout, lambda username: host_student(settings, username))

    @cached_property
    def events(self) -> EventStore:
        from coursehub.events.store import EventStore

        return EventStore(self.database)

    @cached_property
    def live(self) -> LiveStore:
        from coursehub.events.live import LiveStore

        return LiveStore(self.database)

    @cached_property
    def broker(self) -> LiveBroker:
        from coursehub.events.broker import LiveBroker

        return LiveBroker()

    @cached_property
    def event_writer(self) -> EventWriter:
        from coursehub.events.ingest import EventWriter
        from coursehub.events.live import LiveState

        broker = self.broker

        def publish(states: list[LiveState]) -> None:
            for live in states:
                broker.publish(live.course, [live.as_json()])

        return EventWriter(self.database, publish)

    @cached_property
    def event_limiter(self) -> RateLimiter:
        from coursehub.events.ratelimit import RateLimiter

        return RateLimiter(self.settings.events_rate, self.settings.events_burst)

    @cached_property
    def grading(self) -> GradingService:
        from coursehub.service.tasks.grading import make_grading_service

        return make_grading_service(self.settings, self.database)

    @cached_property
    def remote_auth(self) -> RemoteAuthSettings:
        """The remote grading API's token settings, read once from their files."""
        from coursehub.service.routes.remote_grading.api import settings_from

        return settings_from(self.settings.grading.remote_api)

    @cached_property
    def metrics(self) -> ServiceMetrics:
        from coursehub.service.metrics import ServiceMetrics

        return ServiceMetrics(self.app)

    @cached_property
    def lti_key_sets(self) -> KeySets:
        from coursehub.lti.key_sets import KeySets

        return KeySets()

    @property
    def lti_tokens(self) -> ServiceTokens:
        """The LMS services' token client, with the tool's key (blocking on first use)."""
        with _making_tokens:
            if "_lti_tokens" not in self.__dict__:
                from coursehub.lti.keys import ensure_tool_key
                from coursehub.lti.service_token import ServiceTokens
                from coursehub.service.routes.lti.launch import TOOL_KEY_FILE

                key = ensure_tool_key(self.layout.secret_file(TOOL_KEY_FILE))
                self.__dict__["_lti_tokens"] = ServiceTokens(key)
        return self.__dict__["_lti_tokens"]

    @cached_property
    def warmup_wake(self) -> asyncio.Event:
        """Wakes the warm-up task (the staff page planned or cancelled one)."""
        return asyncio.Event()

    @cached_property
    def lti_grade_wake(self) -> asyncio.Event:
        """Wakes the LMS grade sender (a score was queued)."""
        return asyncio.Event()


def context_of(app: Any) -> ServiceContext:
    """The app's context (made by create_app)."""
    return app.state.context
