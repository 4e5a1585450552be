"""Server-rendered HTML: one Jinja2 environment with autoescaping always on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).with_name("templates")


def make_environment() -> jinja2.Environment:
    # autoescape=True for every template, not only *.html: every value may be hostile.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render `template` with the site-wide context (site name, links, XSRF) added."""
    from coursehub.service.context import context_of
    from coursehub.service.forms import xsrf_token  # forms imports auth, which imports this module

    service = context_of(request.app)
    settings = service.settings
    base = {
        "site_name": settings.site_name,
        "prefix": settings.service_prefix,
        "hub_home": settings.hub_prefix + "home",
        "hub_admin": settings.hub_prefix + "admin",
        "hub_logout": settings.hub_prefix + "logout",
        "user": None,
        "xsrf": xsrf_token(request),
    }
    base.update(context)
    html = service.templates.get_template(template).render(**base)
    return HTMLResponse(html, status_code=status_code, headers=headers)
