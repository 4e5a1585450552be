"""Every route of the service, grouped by feature, in one list.

`PAGES` live under the service prefix, `API` under `<prefix>api/` (unknown API paths
get the JSON 404 of errors.py), `SITE` at the site paths the proxy sends to the service
besides its prefix (core/legacy_paths.py). Where paths could overlap the first router wins, so
the order below is the order of matching.
"""

from __future__ import annotations

from fastapi import APIRouter

from coursehub.service import auth, metrics
from coursehub.service.routes import health
from coursehub.service.routes.assignments import api as assignments_api
from coursehub.service.routes.assignments import pages as assignment_pages
from coursehub.service.routes.courses import admin_pages, legacy_links, links, share_links
from coursehub.service.routes.courses import pages as course_pages
from coursehub.service.routes.events import api as events_api
from coursehub.service.routes.home import page as home_page
from coursehub.service.routes.home import resume, whoami
from coursehub.service.routes.live import pages as live_pages
from coursehub.service.routes.lti import content_pages as lti_content_pages
from coursehub.service.routes.lti import launch as lti_launch
from coursehub.service.routes.lti import sync_pages as lti_sync_pages
from coursehub.service.routes.moodle_compat import routes as moodle_compat
from coursehub.service.routes.remote_grading import api as remote_grading_api
from coursehub.service.routes.staff import (
    course_page,
    server_stops,
    servers_page,
    stats_page,
    stop_notices,
    warmup,
)

PAGES: tuple[APIRouter, ...] = (
    home_page.router,
    resume.router,
    links.router,
    legacy_links.router,
    course_pages.router,
    course_page.router,
    warmup.router,
    stats_page.router,
    servers_page.router,
    server_stops.router,  # with their confirmation pages
    live_pages.router,
    assignment_pages.router,  # with the staff's assignment pages
    share_links.router,
    admin_pages.router,
    auth.router,
    health.router,
    metrics.router,
    lti_launch.router,
    lti_content_pages.router,
    lti_sync_pages.router,
    moodle_compat.router,  # the moodle-mod_jupyter plugin's hub and gradeservice calls
)
API: tuple[APIRouter, ...] = (
    whoami.router,
    events_api.router,
    stop_notices.router,  # students' servers fetch staff's stop notices
    assignments_api.router,
    remote_grading_api.router,
)
SITE: tuple[APIRouter, ...] = (legacy_links.SITE,)
