"""An in-process coursehub service set up for LTI launches from a PlatformSimulator,
and the browser steps of a launch (the hub is faked: the launch ends in a ticket)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from coursehub.accounts.signin_tickets import BINDING_COOKIE, SignInTickets
from coursehub.config.layout import DataLayout
from coursehub.config.models import LtiPlatformConfig
from coursehub.courses.store import CourseStore
from coursehub.db.session import Database
from coursehub.lti.platforms import PlatformStore
from tests.helpers.coursedb import open_database, sqlite_url
from tests.helpers.fake_hub import PREFIX, USERS, FakeResolver
from tests.helpers.fake_hub import build as build_app
from tests.helpers.lti_platform import INSTRUCTOR, LEARNER, PlatformSimulator

BASE = "http://testserver"
LOGIN = PREFIX + "lti/login"
LAUNCH = PREFIX + "lti/launch"


@pytest.fixture
def sim() -> Iterator[PlatformSimulator]:
    with PlatformSimulator() as platform:
        platform.tool_login_url = BASE + LOGIN
        platform.tool_launch_url = BASE + LAUNCH
        platform.add_member(
            "u-ines",
            name="Ines Instructor",
            given_name="Ines",
            family_name="Instructor",
            email="ines@uni.example",
            roles=[INSTRUCTOR],
        )
        platform.add_member(
            "u-sam",
            name="Sam Student",
            given_name="Sam",
            family_name="Student",
            email="sam@uni.example",
            roles=[LEARNER],
        )
        yield platform


def register(db: Database, sim: PlatformSimulator, name: str = "sim") -> None:
    PlatformStore(db).add(
        LtiPlatformConfig(**sim.platform_fields(name), deployment_ids=[sim.deployment_id])
    )


class Site:
    def __init__(self, root: Path, sim: PlatformSimulator, auto_create: bool = True) -> None:
        self.data = root / "data"
        url = sqlite_url(root, "c.sqlite")
        self.db = open_database(url)
        register(self.db, sim)
        lti = {"enabled": True, "public_url": BASE, "auto_create_courses": auto_create}
        self.app, _ = build_app(
            FakeResolver(dict(USERS)),
            COURSEHUB_DATABASE_URL=url,
            COURSEHUB_DATA_DIR=str(self.data),
            COURSEHUB_LTI=json.dumps(lti),
        )
        self.courses = CourseStore(self.db, DataLayout(self.data))

    def redeem(self, response: httpx.Response) -> tuple[str, str]:
        assert response.status_code == 303, response.text[:500]
        target = urlparse(response.headers["location"])
        assert target.path == "/hub/coursehub/signin"
        ticket = parse_qs(target.query)["ticket"][0]
        binding = response.cookies.get(BINDING_COOKIE)
        assert binding, "the ticket is bound to this browser by a cookie"
        redeemed = SignInTickets(self.db).redeem(ticket, binding)
        assert redeemed is not None
        return redeemed.username, redeemed.next_url


@pytest.fixture
def site(tmp_path: Path, sim: PlatformSimulator) -> Site:
    return Site(tmp_path, sim)


async def begin(c: httpx.AsyncClient, sim: PlatformSimulator, user: str, **options) -> str:
    """The login initiation: returns the platform authentication URL the page goes on to."""
    hint = sim.new_launch(user, **options)
    page = await c.post(LOGIN, data=sim.login_params(hint))
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'data-auth-url="([^"]+)"', page.text)
    assert found, page.text
    return html.unescape(found.group(1))


async def launch(
    c: httpx.AsyncClient, sim: PlatformSimulator, user: str, **options
) -> httpx.Response:
    """The whole browser flow: initiation, the platform's auto-posted form, the launch."""
    auth_url = await begin(c, sim, user, **options)
    async with httpx.AsyncClient() as browser:
        form = await browser.get(auth_url)
    assert form.status_code == 200, form.text
    fields = dict(re.findall(r'name="(id_token|state)" value="([^"]+)"', form.text))
    return await c.post(LAUNCH, data=fields)


async def login_state(c: httpx.AsyncClient, sim: PlatformSimulator, user: str) -> tuple[str, str]:
    query = parse_qs(urlparse(await begin(c, sim, user)).query)
    return query["state"][0], query["nonce"][0]
