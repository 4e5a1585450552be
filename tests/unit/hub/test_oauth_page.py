"""The hub's "Authorize access" page (our template over JupyterHub's): a course server
shared with a staff member, on its own subdomain and asking for nothing but their name,
is opened without the question; anything else gets JupyterHub's page, with a warning
when another person's server shares the hub's origin."""

from __future__ import annotations

import os
from types import SimpleNamespace

from coursehub.config.translate.jupyterhub import HUB_TEMPLATES

NAME_ONLY = [{"scope": None, "description": "Identify you", "filter": ""}]
MORE = [{"scope": "read:users", "description": "Read users", "filter": ""}]


def _page(visitor: str, owner: str, callback: str, described: list[dict]) -> str:
    """oauth.html rendered as JupyterHub's OAuthAuthorizeHandler renders it."""
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
    from jupyterhub._data import DATA_FILES_PATH

    theirs = os.path.join(DATA_FILES_PATH, "templates")
    loader = ChoiceLoader(
        [
            PrefixLoader({"templates": FileSystemLoader([theirs])}, "/"),
            FileSystemLoader([str(HUB_TEMPLATES), theirs]),
        ]
    )
    env = Environment(loader=loader, autoescape=True)
    server = SimpleNamespace(name="algebra", user=SimpleNamespace(name=owner))
    client = SimpleNamespace(
        spawner=server,
        description=f"Server at /user/{owner}/algebra/",
        redirect_uri=callback,
        identifier=f"jupyterhub-user-{owner}-algebra",
    )
    return env.get_template("oauth.html").render(
        oauth_client=client,
        allowed_scopes=["access:servers!server=nina/algebra", "read:users:name!user"],
        scope_descriptions=described,
        user=SimpleNamespace(
            name=visitor, json_escaped_name=visitor, spawner=SimpleNamespace(options_form="")
        ),
        parsed_scopes=set(),
        xsrf="xsrf-value",
        static_url=lambda *a, **k: "/static",
        base_url="/hub/",
        prefix="/",
    )


SUBDOMAIN = "https://nina.hub.example.edu/user/nina/algebra/oauth_callback"
SAME_ORIGIN = "/user/nina/algebra/oauth_callback"


def test_a_shared_server_on_its_own_subdomain_opens_without_the_question() -> None:
    page = _page("ivan", "nina", SUBDOMAIN, NAME_ONLY)
    assert "Opening nina's server for algebra" in page
    assert 'id="coursehub-consent"' in page and 'name="_xsrf" value="xsrf-value"' in page
    assert page.count('name="scopes"') == 2 and ".submit();" in page
    assert "Authorize access" not in page


def test_anything_else_gets_the_question() -> None:
    # more than the visitor's name
    assert "Authorize access" in _page("ivan", "nina", SUBDOMAIN, MORE)
    # on the hub's own origin: asked, with a warning
    same = _page("ivan", "nina", SAME_ORIGIN, NAME_ONLY)
    assert "Authorize access" in same and 'id="coursehub-same-origin"' in same
    assert "coursehub-consent" not in same
    # a hostile owner name is text
    hostile = _page("ivan", "<b>x</b>", SUBDOMAIN, NAME_ONLY)
    assert "<b>x</b>" not in hostile and "&lt;b&gt;x&lt;/b&gt;" in hostile
