"""The warm-up card of the course's staff page: staff plan and cancel warm-ups, and
see who can be warmed; students cannot, nor can a forged form, nor a form of one
course acting on another's warm-up. The hub's REST API is answered in memory."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from coursehub.db.session import Database
from coursehub.service import cookies
from coursehub.service.context import context_of
from coursehub.warmup.schedule import times_for
from coursehub.warmup.store import WarmupStore
from tests.helpers import stats_week as week
from tests.helpers.fake_hub import API_TOKEN, PREFIX, bearer, client, service_on, user
from tests.unit.warmup.fake_hub_api import FakeHubApi

URL = f"{PREFIX}course/{week.COURSE}/staff"
NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def site(db: Database, tmp_path: Path):  # noqa: ANN201
    week.populate(db, tmp_path / "data", tmp_path, datetime.now(UTC))
    db.dispose()
    app = service_on(
        db.url,
        tmp_path / "data",
        {
            "tok-amy": user("amy", ("coursehub-students",)),
            "tok-tom": user("tom", ("coursehub-tas",)),
        },
    )
    hub = FakeHubApi(token=API_TOKEN)
    hub.add_user("amy")
    context_of(app).hub_api = httpx.AsyncClient(transport=httpx.MockTransport(hub.handle))
    return app, WarmupStore(context_of(app).database)


async def _signed_in(c: httpx.AsyncClient, token: str, page: str = URL) -> str:
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", token)
    c.cookies.set("service-coursehub", signed)
    got = await c.get(page, headers={"Sec-Fetch-Mode": "navigate"})
    assert got.status_code == 200, got.text[-300:]
    found = re.search(r'name="coursehub-xsrf" content="([^"]+)"', got.text)
    assert found
    return found.group(1)


async def test_staff_plan_a_warm_up_and_see_who_can_be_warmed(site) -> None:  # noqa: ANN001
    app, store = site
    async with client(app) as c:
        xsrf = await _signed_in(c, "tok-tom")  # a TA of the course
        page = await c.get(URL, headers={"Sec-Fetch-Mode": "navigate"})
        card = page.text[page.text.index('id="warmup"') :]
        assert re.search(r'data-count="warm">1\b', card)  # amy
        assert "3 enrolled without an account yet" in card and "bob, cat, dan" in card
        got = await c.post(f"{URL}/warmup", data={"_xsrf": xsrf, "minutes": "30"}, headers=NAV)
        assert got.status_code == 303 and got.headers["location"].endswith("warmup=planned#warmup")
        (planned,) = store.of_course(week.COURSE)
        assert (planned.source, planned.requested_by, planned.state) == (
            "staff page",
            "tom",
            "scheduled",
        )
        soon = datetime.now(UTC) + timedelta(minutes=30)
        assert abs(planned.class_starts_at - soon) < timedelta(minutes=1)
        assert planned.begins_at == planned.class_starts_at - timedelta(minutes=15)
        page = await c.get(got.headers["location"], headers={"Sec-Fetch-Mode": "navigate"})
        assert "The warm-up is planned" in page.text and f'data-warmup="{planned.id}"' in page.text
        # a time typed in the browser's zone
        at = {"_xsrf": xsrf, "at": "2099-01-01T09:00", "zone": "Europe/Paris"}
        far = await c.post(f"{URL}/warmup", data=at, headers=NAV)
        assert far.status_code == 400 and "more than a year away" in far.text
        past = {"_xsrf": xsrf, "at": "2020-01-01 09:00 Europe/Paris"}
        assert "in the past" in (await c.post(f"{URL}/warmup", data=past, headers=NAV)).text
        bad = await c.post(f"{URL}/warmup", data={"_xsrf": xsrf, "minutes": "soon"}, headers=NAV)
        assert bad.status_code == 400 and "not a number of minutes" in bad.text
        # cancelled from the page
        got = await c.post(f"{URL}/warmup/{planned.id}/cancel", data={"_xsrf": xsrf}, headers=NAV)
        assert got.status_code == 303 and store.get(planned.id).state == "cancelled"
    assert len(store.of_course(week.COURSE)) == 1


async def test_students_and_others_cannot_plan_or_cancel(site) -> None:  # noqa: ANN001
    app, store = site
    now = datetime.now(UTC)
    planned = store.create(
        week.COURSE, times_for(now + timedelta(hours=1), 900, 60, now), "command"
    )
    # amy, a student of the course, with a valid form token of her own
    async with client(app) as c:
        signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", "tok-amy")
        c.cookies.set("service-coursehub", signed)
        own = hmac.new(context_of(app).cookie_key, f"xsrf|{signed}".encode(), hashlib.sha256)
        form = {"_xsrf": own.hexdigest()[:40], "minutes": "0"}
        got = await c.post(f"{URL}/warmup", data=form, headers=NAV)
        assert got.status_code == 403 and "instructors and teaching assistants" in got.text
        got = await c.post(f"{URL}/warmup/{planned.id}/cancel", data=form, headers=NAV)
        assert got.status_code == 403
        assert (await c.get(URL, headers=bearer("tok-amy"))).status_code == 403
    # sam is in no course: the course does not exist for him
    assert (await client(app).get(URL, headers=bearer("tok-student"))).status_code == 404
    assert [w.state for w in store.of_course(week.COURSE)] == ["scheduled"]


async def test_forged_forms_change_nothing(site) -> None:  # noqa: ANN001
    app, store = site
    now = datetime.now(UTC)
    theirs = store.create(week.OTHER, times_for(now + timedelta(hours=1), 900, 60, now), "command")
    async with client(app) as c:
        xsrf = await _signed_in(c, "tok-inst")  # ines teaches algebra, not physics
        # no XSRF field, or another site's page sending the instructor's cookie
        got = await c.post(f"{URL}/warmup", data={"minutes": "0"}, headers=NAV)
        assert got.status_code == 403
        evil = {**NAV, "Origin": "https://evil.example"}
        got = await c.post(f"{URL}/warmup", data={"_xsrf": xsrf, "minutes": "0"}, headers=evil)
        assert got.status_code == 403
        cross = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "cross-site"}
        got = await c.post(f"{URL}/warmup", data={"_xsrf": xsrf, "minutes": "0"}, headers=cross)
        assert got.status_code == 403
        # physics' warm-up through algebra's page, and physics' page itself
        got = await c.post(f"{URL}/warmup/{theirs.id}/cancel", data={"_xsrf": xsrf}, headers=NAV)
        assert got.status_code == 404
        other = f"{PREFIX}course/{week.OTHER}/staff/warmup"
        got = await c.post(other, data={"_xsrf": xsrf, "minutes": "0"}, headers=NAV)
        assert got.status_code == 404
    assert store.of_course(week.COURSE) == []
    assert store.get(theirs.id).state == "scheduled"
