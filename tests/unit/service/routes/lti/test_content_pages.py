"""After the launch: an instructor picks notebooks and assignments for the LMS (Deep
Linking, answered with a JWT the platform simulator verifies against coursehub's
published keys), or links an LMS course to a course they teach.

The hub is faked (tests/helpers/fake_hub.py); launches, keys, course and database are
real, and the platform is the simulator over loopback.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from coursehub.db.models import LtiLaunch
from coursehub.grading import lifecycle
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.service import cookies
from tests.helpers.assignments import nbgrader_source
from tests.helpers.fake_hub import API_TOKEN, PREFIX, client
from tests.helpers.lti_platform import DL, INSTRUCTOR, PlatformSimulator
from tests.helpers.lti_site import BASE, Site, launch, sim, site

__all__ = ["sim", "site"]  # fixtures
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}
TOKENS = {"ines": "tok-inst", "sam": "tok-student", "ada": "tok-admin"}


def signed_in(site: Site, username: str) -> httpx.AsyncClient:
    c = client(site.app, BASE)
    token = TOKENS[username]
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", token)
    c.cookies.set("service-coursehub", signed)
    return c


async def page_and_xsrf(c: httpx.AsyncClient, path: str) -> tuple[httpx.Response, str]:
    page = await c.get(path, headers=NAVIGATE)
    found = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    return page, found.group(1) if found else ""


async def deep_link_page(site: Site, sim: PlatformSimulator) -> str:
    """The course made by Ines's first launch, an assignment, then her deep-link launch."""
    async with client(site.app, BASE) as c:
        site.redeem(await launch(c, sim, "u-ines", roles=[INSTRUCTOR]))
    grading = GradingStore(site.db, GradingPaths(site.data))
    source = nbgrader_source(site.data.parent / "src" / "ps1")
    lifecycle.create(grading, "phys101", "ps1", source, title="Problem set 1")
    async with client(site.app, BASE) as c:
        username, next_url = site.redeem(
            await launch(c, sim, "u-ines", roles=[INSTRUCTOR], message_type="LtiDeepLinkingRequest")
        )
    assert username == "ines"
    assert next_url.startswith(PREFIX + "lti/deep-link/")
    return next_url


async def test_instructor_picks_content_and_the_lms_gets_a_signed_answer(
    site: Site, sim: PlatformSimulator
) -> None:
    sim.tool_jwks_url = BASE + PREFIX + "lti/jwks.json"
    url = await deep_link_page(site, sim)
    async with signed_in(site, "ines") as c:
        page, xsrf = await page_and_xsrf(c, url)
        assert page.status_code == 200, page.text
        assert 'value="nb:welcome.ipynb"' in page.text and 'value="as:ps1"' in page.text
        form = {
            "_xsrf": xsrf,
            "item": ["nb:welcome.ipynb", "as:ps1"],
            "title:nb:welcome.ipynb": "Start here",
        }
        answer = await c.post(url, data=form, headers=NAVIGATE)
        assert answer.status_code == 200, answer.text
        # the page posts to the LMS, so its policy allows exactly that origin
        assert f"form-action 'self' {sim.url}" in answer.headers["content-security-policy"]
        again = await c.post(url, data=form, headers=NAVIGATE)
        assert again.status_code == 410 and "already used" in again.text
        keys = (await c.get(PREFIX + "lti/jwks.json")).json()
    action = html.unescape(re.search(r'action="([^"]+)"', answer.text).group(1))
    token = html.unescape(re.search(r'name="JWT" value="([^"]+)"', answer.text).group(1))
    assert action == sim.url + "/deep_link_return"
    # the platform checks it against coursehub's published keys
    sim.tool_jwks = keys
    async with httpx.AsyncClient() as lms:
        accepted = await lms.post(action, data={"JWT": token})
    assert accepted.status_code == 200, accepted.text
    claims = jwt.decode(token, options={"verify_signature": False})
    items = claims[DL + "content_items"]
    assert [i["custom"] for i in items] == [
        {"coursehub_notebook": "welcome.ipynb"},
        {"coursehub_assignment": "ps1"},
    ]
    assert items[0]["title"] == "Start here"
    assert items[0]["url"] == BASE + PREFIX + "lti/launch"
    assert items[1]["lineItem"]["resourceId"] == "ps1" and items[1]["lineItem"]["scoreMaximum"] > 0


async def test_deep_link_page_refuses_others_made_up_items_and_old_launches(
    site: Site, sim: PlatformSimulator
) -> None:
    url = await deep_link_page(site, sim)
    async with signed_in(site, "sam") as c:
        other = await c.get(url, headers=NAVIGATE)
    assert other.status_code == 403
    async with signed_in(site, "ines") as c:
        _page, xsrf = await page_and_xsrf(c, url)
        made_up = await c.post(
            url, data={"_xsrf": xsrf, "item": "nb:../../etc/passwd"}, headers=NAVIGATE
        )
        assert made_up.status_code == 400 and "is not a notebook or assignment" in made_up.text
        nothing = await c.post(url, data={"_xsrf": xsrf}, headers=NAVIGATE)
        assert nothing.status_code == 400
        no_xsrf = await c.post(url, data={"item": "nb:welcome.ipynb"}, headers=NAVIGATE)
        assert no_xsrf.status_code == 403
        launch_id = url.rsplit("/", 1)[1]
        with site.db.session() as s:
            s.get(LtiLaunch, launch_id).expires_at = datetime.now(UTC) - timedelta(minutes=1)
        expired = await c.get(url, headers=NAVIGATE)
        assert expired.status_code == 410 and "expired" in expired.text


async def test_a_student_cannot_open_content_selection(site: Site, sim: PlatformSimulator) -> None:
    async with client(site.app, BASE) as c:
        site.redeem(await launch(c, sim, "u-ines", roles=[INSTRUCTOR]))
    async with client(site.app, BASE) as c:
        refused = await launch(c, sim, "u-sam", message_type="LtiDeepLinkingRequest")
    assert refused.status_code == 403 and "instructors" in refused.text


@pytest.fixture
def teaching(site: Site, tmp_path) -> Site:  # noqa: ANN001
    """Ines already teaches a coursehub course: her launch asks which course to link."""
    from tests.helpers.gitrepo import commit_all

    repo = tmp_path / "algebra-repo"
    repo.mkdir()
    (repo / "intro.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    )
    commit_all(repo, "first")
    for name in ("algebra", "biology"):
        site.courses.add(name, str(repo))
    # Her account came from the LMS (a roster sync) before an admin enrolled her: a
    # name enrolled as staff with no account yet is never given to an LMS user.
    from coursehub.lti.identities import IdentityStore, LmsPerson
    from coursehub.lti.platforms import PlatformStore

    (platform,) = PlatformStore(site.db).list()
    person = LmsPerson(subject="u-ines", email="ines@uni.example")
    assert IdentityStore(site.db).username_for(platform, person, "email") == "ines"
    site.courses.enrol("algebra", "ines", "instructor")
    return site


async def test_instructor_links_the_lms_course_to_a_course_she_teaches(
    teaching: Site, sim: PlatformSimulator
) -> None:
    site = teaching
    async with client(site.app, BASE) as c:
        username, url = site.redeem(await launch(c, sim, "u-ines", roles=[INSTRUCTOR]))
    assert url.startswith(PREFIX + "lti/link/")
    async with signed_in(site, "ines") as c:
        page, xsrf = await page_and_xsrf(c, url)
        assert 'value="algebra"' in page.text and 'value="biology"' not in page.text
        assert 'value="+new"' in page.text
        stolen = await c.post(url, data={"_xsrf": xsrf, "course": "biology"}, headers=NAVIGATE)
        assert stolen.status_code == 403 and site.courses.role_of("biology", "ines") is None
        linked = await c.post(url, data={"_xsrf": xsrf, "course": "algebra"}, headers=NAVIGATE)
        assert linked.status_code == 303
        assert linked.headers["location"] == PREFIX + "course/algebra"
    # students of the LMS course now land in algebra
    async with client(site.app, BASE) as c:
        student, where = site.redeem(await launch(c, sim, "u-sam"))
    assert where == PREFIX + "course/algebra"
    assert site.courses.role_of("algebra", student) == "student"


async def test_instructor_may_make_a_new_course_instead(
    teaching: Site, sim: PlatformSimulator
) -> None:
    site = teaching
    async with client(site.app, BASE) as c:
        _, url = site.redeem(await launch(c, sim, "u-ines", roles=[INSTRUCTOR]))
    async with signed_in(site, "ines") as c:
        _page, xsrf = await page_and_xsrf(c, url)
        made = await c.post(url, data={"_xsrf": xsrf, "course": "+new"}, headers=NAVIGATE)
    assert made.status_code == 303 and made.headers["location"] == PREFIX + "course/phys101"
    assert site.courses.role_of("phys101", "ines") == "instructor"


async def test_choosing_content_from_an_unlinked_lms_course_links_it_first(
    teaching: Site, sim: PlatformSimulator
) -> None:
    site = teaching
    async with client(site.app, BASE) as c:
        _, url = site.redeem(
            await launch(c, sim, "u-ines", roles=[INSTRUCTOR], message_type="LtiDeepLinkingRequest")
        )
    assert url.startswith(PREFIX + "lti/link/")
    async with signed_in(site, "ines") as c:
        _page, xsrf = await page_and_xsrf(c, url)
        linked = await c.post(url, data={"_xsrf": xsrf, "course": "algebra"}, headers=NAVIGATE)
        assert linked.status_code == 303
        picker = linked.headers["location"]
        assert picker.startswith(PREFIX + "lti/deep-link/")
        page = await c.get(picker, headers=NAVIGATE)
    assert page.status_code == 200 and 'value="nb:intro.ipynb"' in page.text
