"""The app factory: thin wiring of settings, identity, routes, errors and middleware."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from coursehub.core.subdomains import users_source
from coursehub.service import auth, metrics, routes
from coursehub.service.body_limits import BodyLimitMiddleware
from coursehub.service.context import ServiceContext, context_of
from coursehub.service.cookies import signing_key
from coursehub.service.errors import install_error_handlers
from coursehub.service.identity import IdentityResolver
from coursehub.service.middleware import GuardMiddleware, content_security_policy
from coursehub.service.routes import health
from coursehub.service.settings import ServiceSettings
from coursehub.service.templating import make_environment

STATIC = Path(__file__).with_name("static")


def create_app(settings: ServiceSettings, resolver: IdentityResolver | None = None) -> FastAPI:
    """The coursehub service app for `settings`.

    `resolver` answers "who owns this token" and runs OAuth; by default it is the hub
    (HubOAuth). Tests pass a fake to exercise routing without a hub.
    """
    if resolver is None:
        from coursehub.service.hub_oauth import HubIdentityResolver

        resolver = HubIdentityResolver(settings)
    checker = health.HealthChecker(resolver, settings.database_url, settings.version)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.autopull_seconds and settings.database_url and settings.data_dir:
            from coursehub.service.tasks.autopull import autopull_forever

            pulls = autopull_forever(context_of(app).courses, settings.autopull_seconds)
            tasks.append(asyncio.create_task(pulls))
        if settings.database_url:
            from coursehub.service.tasks.event_retention import purge_events_forever

            purge = purge_events_forever(
                context_of(app).events,
                settings.events_retention_seconds,
                settings.events_max_stored,
            )
            tasks.append(asyncio.create_task(purge))
        grading = None
        if settings.database_url and settings.data_dir:
            grading = context_of(app).grading.workers
            if grading is not None:
                grading.start()
            from coursehub.service.tasks.lti import start_background
            from coursehub.service.tasks.warmup import warmups_forever

            tasks.extend(start_background(app))
            tasks.append(asyncio.create_task(warmups_forever(app)))
        every = settings.ops.stats.sample_every if settings.ops else 0
        if settings.database_url and settings.data_dir and every:
            from coursehub.service.tasks.monitor import monitor_forever

            tasks.append(asyncio.create_task(monitor_forever(app, every)))
        if settings.backup is not None:
            from coursehub.service.tasks.backups import start_backup_schedule

            tasks.extend(start_backup_schedule(settings.backup))
        yield
        if grading is not None:
            await grading.stop()
        for task in tasks:
            task.cancel()
        # Let them finish their clean-up (the LMS sender closes its HTTP client).
        await asyncio.gather(*tasks, return_exceptions=True)
        if context_of(app).made("hub_api"):
            await context_of(app).hub_api.aclose()
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
    app.state.context = ServiceContext(
        settings=settings,
        resolver=resolver,
        health=checker,
        templates=make_environment(),
        cookie_key=signing_key(settings.api_token),
        app=app,
    )

    # The proxy forwards the full path, so every route lives under the service prefix.
    root = prefix.rstrip("/")
    for router in routes.PAGES:
        app.include_router(router, prefix=root)
    for router in routes.API:
        app.include_router(router, prefix=root + "/api")
    app.mount(prefix + "static", StaticFiles(directory=STATIC), name="static")
    for router in routes.SITE:
        app.include_router(router)

    install_error_handlers(app)
    auth.install_auth(app)
    # Inside the guard, so its 413s get the security headers and the access log line.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(
        GuardMiddleware,
        static_prefix=prefix + "static/",
        csp=content_security_policy(
            settings.frame_ancestors,
            (users_source(settings.subdomain_host),) if settings.subdomain_host else (),
        ),
    )
    # Outside the guard, so requests it answers with a 500 are counted too.
    app.add_middleware(metrics.MetricsMiddleware, prefix=prefix, owner=app)
    return app
