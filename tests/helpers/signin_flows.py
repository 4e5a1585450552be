"""Sign-in flows against a real hub, as a browser without JavaScript makes them:
GitHub OAuth (against tests/helpers/fake_github.py), an LTI 1.3 launch from a
PlatformSimulator, and "who am I" afterwards."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from tests.helpers.browserless import _hub_xsrf
from tests.helpers.lti_platform import PlatformSimulator

LTI_LOGIN = "/services/coursehub/lti/login"
LTI_LAUNCH = "/services/coursehub/lti/launch"


def whoami(client: httpx.Client) -> dict[str, Any] | None:
    """The hub's model of the signed-in user (name, admin, groups), or None."""
    response = client.get("/hub/api/user", headers={"X-XSRFToken": _hub_xsrf(client)})
    return response.json() if response.status_code == 200 else None


def github_sign_in(client: httpx.Client, next_url: str = "/hub/token") -> httpx.Response:
    """Sign in with GitHub; the fake GitHub approves as its `next_user`. Returns the
    hub's answer to the OAuth callback (302 when signed in)."""
    start = client.get("/hub/oauth_login", params={"next": next_url})
    assert start.status_code == 302, start.text[:500]
    approved = httpx.get(start.headers["location"], timeout=30)
    assert approved.status_code == 302, approved.text[:500]
    return client.get(approved.headers["location"])


def lti_launch(
    client: httpx.Client, sim: PlatformSimulator, user: str, **options: Any
) -> httpx.Response:
    """Login initiation, the platform's auto-posted form, and the launch; returns the
    service's answer to the launch (a 303 to the hub's ticket page when accepted)."""
    hint = sim.new_launch(user, **options)
    page = client.post(LTI_LOGIN, data=sim.login_params(hint))
    if page.status_code != 200:
        return page
    found = re.search(r'data-auth-url="([^"]+)"', page.text)
    assert found, page.text[:500]
    form = httpx.get(html.unescape(found.group(1)), timeout=30)
    assert form.status_code == 200, form.text[:500]
    fields = dict(re.findall(r'name="(id_token|state)" value="([^"]+)"', form.text))
    return client.post(LTI_LAUNCH, data=fields)


def follow_ticket(client: httpx.Client, launch: httpx.Response) -> httpx.Response:
    """Redeem the ticket of an accepted launch at the hub (302 when signed in)."""
    assert launch.status_code == 303, launch.text[:500]
    return client.get(launch.headers["location"])
