"""Every state-changing route of the service says who may call it in a way no other
page can borrow: a page form (XSRF field, same-origin navigation, the site's own
Origin), a header token, or a credential made for it (an LMS's signed launch, a grading
JWT). A new POST, PUT, PATCH or DELETE that believes the sign-in cookie some other way
fails here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from coursehub.service.auth import api_user
from coursehub.service.forms import form_sender, form_user
from coursehub.service.routes.assignments.staff_pages import upload_user
from coursehub.service.routes.moodle_compat.mapping import plugin_server, plugin_user
from coursehub.service.routes.remote_grading.api import remote_caller
from tests.helpers.fake_hub import build

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Callers checked by header or form: forms.form_sender behind the form ones.
GUARDS: dict[Callable[..., Any], str] = {
    form_user: "page form",
    upload_user: "page form (files), through form_sender",
    api_user: "header token (cookies are never believed on unsafe methods)",
    remote_caller: "grading JWT in the Authorization header",
    plugin_server: "the Moodle plugin's API token in the Authorization header",
    plugin_user: "the Moodle plugin's JWT in the Authorization header",
}
# Routes that take no sign-in at all, with why that is safe.
OPEN = {
    ("POST", "/lti/launch"): "the LMS's signed id_token, state and nonce",
    ("POST", "/lti/login"): "OIDC login start: only this browser's launch state, then the LMS",
}


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every API route, inside included routers too (paths without the prefixes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI's included router
            yield from _routes(route.original_router.routes)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def test_every_state_changing_route_is_guarded() -> None:
    app, _ = build()
    seen = 0
    unguarded = []
    for route in _routes(app.routes):
        for method in route.methods & UNSAFE:
            seen += 1
            if (method, route.path) in OPEN:
                continue
            if not any(call in GUARDS for call in _calls(route.dependant)):
                unguarded.append(f"{method} {route.path}")
    assert seen > 20  # the routes were found at all
    assert unguarded == []
    assert upload_user.__code__.co_names.count(form_sender.__name__) == 1
