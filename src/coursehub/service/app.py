"""The app factory: thin wiring of settings, identity, routes, errors and middleware."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from coursehub.service import (
    admin_pages,
    api,
    assignment_pages,
    auth,
    course_pages,
    events_api,
    grading_api,
    health,
    links,
    live_pages,
    lti_content_pages,
    lti_routes,
    lti_sync_pages,
    metrics,
    pages,
    remote_grading_api,
    server_pages,
    shared,
    staff_pages,
    stats_pages,
)
from coursehub.service.cookies import signing_key
from coursehub.service.errors import install_error_handlers
from coursehub.service.identity import IdentityResolver
from coursehub.service.middleware import GuardMiddleware, content_security_policy
from coursehub.service.settings import ServiceSettings
from coursehub.service.templating import make_environment

STATIC = Path(__file__).with_name("static")


def create_app(settings: ServiceSettings, resolver: IdentityResolver | None = None) -> FastAPI:
    """The coursehub service app for `settings`.

    `resolver` answers "who owns this token" and runs OAuth; by default it is the hub
    (HubOAuth). Tests pass a fake to exercise routing without a hub.
    """
    if resolver is None:
        from coursehub.service.hub import HubIdentityResolver

        resolver = HubIdentityResolver(settings)
    checker = health.HealthChecker(resolver, settings.database_url, settings.version)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.autopull_seconds and settings.database_url and settings.data_dir:
            from coursehub.service.autopull import autopull_forever
            from coursehub.service.course_access import store_for

            pulls = autopull_forever(store_for(app), settings.autopull_seconds)
            tasks.append(asyncio.create_task(pulls))
        if settings.database_url:
            from coursehub.service.event_retention import purge_events_forever
            from coursehub.service.events_api import events_for

            purge = purge_events_forever(
                events_for(app), settings.events_retention_seconds, settings.events_max_stored
            )
            tasks.append(asyncio.create_task(purge))
        grading = None
        if settings.database_url and settings.data_dir:
            from coursehub.service.grading_service import grading_of

            grading = grading_of(app).workers
            if grading is not None:
                grading.start()
            from coursehub.service.lti_background import start_background

            tasks.extend(start_background(app))
        every = (settings.ops.get("stats") or {}).get("sample_every", 0)
        if settings.database_url and settings.data_dir and every:
            from coursehub.monitor.loop import monitor_forever

            tasks.append(asyncio.create_task(monitor_forever(app, every)))
        if settings.backup:
            from coursehub.service.backup_schedule import start_backup_schedule

            tasks.extend(start_backup_schedule(settings.backup))
        yield
        if grading is not None:
            await grading.stop()
        for task in tasks:
            task.cancel()
        # Let them finish their clean-up (the LMS sender closes its HTTP client).
        await asyncio.gather(*tasks, return_exceptions=True)
        if getattr(app.state, "hub_api_client", None) is not None:
            await app.state.hub_api_client.aclose()
        await resolver.close()
        checker.close()

    prefix = settings.service_prefix
    # No interactive docs: the API is documented in docs/, and /docs would need a CDN.
    app = FastAPI(
        title="coursehub",
        version=settings.version,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.resolver = resolver
    app.state.health = checker
    app.state.templates = make_environment()
    app.state.cookie_key = signing_key(settings.api_token)

    # The proxy forwards the full path, so every route lives under the service prefix.
    root = prefix.rstrip("/")
    app.include_router(pages.router, prefix=root)
    app.include_router(links.router, prefix=root)
    app.include_router(course_pages.router, prefix=root)
    app.include_router(staff_pages.router, prefix=root)
    app.include_router(stats_pages.router, prefix=root)
    app.include_router(server_pages.router, prefix=root)
    app.include_router(live_pages.router, prefix=root)
    app.include_router(assignment_pages.router, prefix=root)
    app.include_router(shared.router, prefix=root)
    app.include_router(admin_pages.router, prefix=root)
    app.include_router(auth.router, prefix=root)
    app.include_router(health.router, prefix=root)
    app.include_router(metrics.router, prefix=root)
    app.include_router(lti_routes.router, prefix=root)
    app.include_router(lti_content_pages.router, prefix=root)
    app.include_router(lti_sync_pages.router, prefix=root)
    app.include_router(api.router, prefix=root + "/api")
    app.include_router(events_api.router, prefix=root + "/api")
    app.include_router(grading_api.router, prefix=root + "/api")
    app.include_router(remote_grading_api.router, prefix=root + "/api")
    app.mount(prefix + "static", StaticFiles(directory=STATIC), name="static")

    install_error_handlers(app)
    auth.install_auth(app)
    app.add_middleware(
        GuardMiddleware,
        static_prefix=prefix + "static/",
        csp=content_security_policy(settings.frame_ancestors),
    )
    # Outside the guard, so requests it answers with a 500 are counted too.
    app.add_middleware(metrics.MetricsMiddleware, prefix=prefix, owner=app)
    return app
