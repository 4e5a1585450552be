"""The pages that follow a stored LMS launch, driven from launch records made directly
(the launch itself is tested in test_launch.py and test_content_pages.py):
who may use a launch and when, what the content page offers, what the answer to the
LMS holds, and linking an LMS course to a coursehub course.

The hub is faked (tests/helpers/fake_hub.py); database, course repository, tool key
and grading store are real.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from coursehub.config.models import LtiPlatformConfig
from coursehub.courses.store import CourseStore
from coursehub.db import models
from coursehub.db.session import Database
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.lti.keys import ToolKey
from coursehub.lti.launch_records import LaunchStore
from coursehub.lti.platforms import PlatformStore
from coursehub.service import cookies
from coursehub.service.context import context_of
from tests.helpers.coursedb import add_courses
from tests.helpers.fake_hub import API_TOKEN, PREFIX, client, service_on, user
from tests.helpers.gitrepo import make_repo
from tests.helpers.lti_fixtures import store_key

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
PUBLIC = "https://hub.example.org"
LMS = "https://lms.example.org"
RETURN_URL = LMS + "/deep-link/return?course=7"
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}
TOKENS = {"ines": "tok-inst", "sam": "tok-student", "ada": "tok-admin", "tom": "tok-tom"}
TOKENS["tara"] = "tok-tara"
IPYNB = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
MANIFEST = """\
title: Algebra
tracks:
  - name: basics
    title: The basics
    sections:
      - title: Week 1
        notebooks: [week1/*.ipynb]
  - name: labs
    title: Lab work
    sections:
      - title: Labs
        notebooks: [labs/*.ipynb]
"""


@dataclass
class Site:
    app: FastAPI
    db: Database
    courses: CourseStore
    platform_id: int
    linked: int  # LtiContext pk linked to algebra
    unlinked: int  # LtiContext pk of an LMS course linked to nothing

    def launch(
        self, username: str, context_pk: int, message_type: str = "LtiDeepLinkingRequest", **dl: Any
    ) -> str:
        return LaunchStore(self.db).save(
            username, self.platform_id, context_pk, message_type, request_claims(**dl)
        )


def request_claims(**settings: Any) -> dict[str, Any]:
    dl = {
        "deep_link_return_url": RETURN_URL,
        "accept_types": ["ltiResourceLink"],
        "accept_multiple": True,
        "data": "lms-opaque-data",
        **settings,
    }
    return {
        "iss": LMS,
        "aud": "client-1",
        "sub": "u-1",
        LTI + "message_type": "LtiDeepLinkingRequest",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": "dep-9",
        DL + "deep_linking_settings": dl,
    }


@pytest.fixture
def site(tmp_path: Path, tool_key: ToolKey, course_store: CourseStore) -> Iterator[Site]:
    notebooks = ("week1/intro.ipynb", "week1/sets.ipynb", "labs/lab1.ipynb")
    files = {name: IPYNB for name in notebooks} | {
        "README.md": "# Algebra\n",
        "course.yaml": MANIFEST,
    }
    repo = make_repo(tmp_path / "repo", files)
    courses, db = course_store, course_store.db
    data = courses.layout.root
    store_key(tool_key, courses.layout)
    members = {
        "algebra": {"ines": "instructor", "tom": "ta", "sam": "student"},
        "physics": {"tara": "instructor"},
    }
    add_courses(courses, repo, members)
    grading = GradingStore(db, GradingPaths(data))
    questions = [{"name": "q1", "points": 4}, {"name": "q2", "points": 2}]
    grading.save_assignment("algebra", "ps1", "nbgrader", questions, ["ps1.ipynb"], "Sets <i>1</i>")
    grading.save_assignment("physics", "mech", "nbgrader", questions, ["mech.ipynb"], "Mechanics")
    platform = PlatformStore(db).add(
        LtiPlatformConfig(
            name="moodle",
            issuer=LMS,
            client_id="client-1",
            auth_login_url=LMS + "/auth",
            auth_token_url=LMS + "/token",
            key_set_url=LMS + "/jwks",
        )
    )
    with db.session() as s:
        linked = models.LtiContext(
            platform_id=platform.id, context_id="c-1", course="algebra", title="Algebra"
        )
        unlinked = models.LtiContext(
            platform_id=platform.id, context_id="c-2", title="Geometry <b>2</b>", label="GEO2"
        )
        s.add_all([linked, unlinked])
        s.flush()
        linked_pk, unlinked_pk = linked.id, unlinked.id
    app = service_on(
        db.url,
        data,
        {
            "tok-tom": user("tom", ("coursehub-students",)),
            "tok-tara": user("tara", ("coursehub-instructors",)),
        },
        COURSEHUB_LTI=json.dumps({"enabled": True, "public_url": PUBLIC}),
    )
    yield Site(app, db, courses, platform.id, linked_pk, unlinked_pk)
    if context_of(app).made("database"):
        context_of(app).database.dispose()


def signed_in(site: Site, username: str) -> httpx.AsyncClient:
    c = client(site.app)
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", TOKENS[username])
    c.cookies.set("service-coursehub", signed)
    return c


async def page_and_xsrf(c: httpx.AsyncClient, path: str) -> tuple[httpx.Response, str]:
    page = await c.get(path, headers=NAVIGATE)
    found = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    return page, found.group(1) if found else ""


def deep_link(launch_id: str) -> str:
    return f"{PREFIX}lti/deep-link/{launch_id}"


def link(launch_id: str) -> str:
    return f"{PREFIX}lti/link/{launch_id}"


def answer_of(page: httpx.Response, key: ToolKey) -> tuple[str, dict[str, Any]]:
    """The auto-posted form's target and its JWT, verified as the LMS would."""
    form = re.search(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text)
    token = re.search(r'name="JWT" value="([^"]+)"', page.text)
    assert form and token, page.text
    claims = jwt.decode(
        html.unescape(token.group(1)),
        key.public,
        algorithms=["RS256"],
        audience=LMS,
        issuer="client-1",
    )
    return html.unescape(form.group(1)), claims


# -- choosing content -------------------------------------------------------------------


async def test_the_instructor_is_offered_the_courses_notebooks_and_assignments(
    site: Site,
) -> None:
    url = deep_link(site.launch("ines", site.linked))
    async with signed_in(site, "ines") as c:
        page, xsrf = await page_and_xsrf(c, url)
    assert page.status_code == 200, page.text
    assert xsrf
    offered = re.findall(r'type="checkbox" name="item" value="([^"]+)"', page.text)
    assert offered == [
        "nb:week1/intro.ipynb",
        "nb:week1/sets.ipynb",
        "nb:labs/lab1.ipynb",
        "as:ps1",
    ]
    assert "README.md" not in page.text and "mech" not in page.text  # only this course's
    # grouped as the course page groups them
    headings = re.findall(r"<h3>([^<]+)</h3>", page.text)
    assert headings == ["The basics · Week 1", "Lab work · Labs"]
    # the assignment's title is prefilled, as text
    assert 'value="Sets &lt;i&gt;1&lt;/i&gt;"' in page.text and "<i>1</i>" not in page.text


async def test_a_platform_that_takes_one_item_gets_radio_buttons_and_one_item(
    site: Site, tool_key: ToolKey
) -> None:
    url = deep_link(site.launch("ines", site.linked, accept_multiple=False))
    async with signed_in(site, "ines") as c:
        page, xsrf = await page_and_xsrf(c, url)
        assert 'type="radio" name="item"' in page.text and 'type="checkbox"' not in page.text
        items = ["nb:week1/intro.ipynb", "as:ps1"]
        answer = await c.post(url, data={"_xsrf": xsrf, "item": items}, headers=NAVIGATE)
    assert answer.status_code == 200, answer.text
    _target, claims = answer_of(answer, tool_key)
    assert [i["custom"] for i in claims[DL + "content_items"]] == [
        {"coursehub_notebook": "week1/intro.ipynb"}
    ]


async def test_the_chosen_items_go_back_to_the_lms_signed_once(
    site: Site, tool_key: ToolKey
) -> None:
    launch_id = site.launch("ines", site.linked)
    url = deep_link(launch_id)
    async with signed_in(site, "ines") as c:
        _page, xsrf = await page_and_xsrf(c, url)
        form = {
            "_xsrf": xsrf,
            "item": ["nb:labs/lab1.ipynb", "as:ps1"],
            "title:nb:labs/lab1.ipynb": "First lab",
            "title:as:ps1": "Problem set one",
        }
        answer = await c.post(url, data=form, headers=NAVIGATE)
        assert answer.status_code == 200, answer.text
        again = await c.post(url, data=form, headers=NAVIGATE)
        assert again.status_code == 410 and "already used" in again.text
        reopened = await c.get(url, headers=NAVIGATE)
        assert reopened.status_code == 410
    target, claims = answer_of(answer, tool_key)
    assert target == RETURN_URL
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[LTI + "deployment_id"] == "dep-9"
    assert claims[DL + "data"] == "lms-opaque-data"
    launch_url = PUBLIC + PREFIX + "lti/launch"
    lab, ps1 = claims[DL + "content_items"]
    assert lab == {
        "type": "ltiResourceLink",
        "title": "First lab",
        "url": launch_url,
        "custom": {"coursehub_notebook": "labs/lab1.ipynb"},
    }
    assert ps1["title"] == "Problem set one" and ps1["url"] == launch_url
    assert ps1["custom"] == {"coursehub_assignment": "ps1"}
    assert ps1["lineItem"]["scoreMaximum"] == 6 and ps1["lineItem"]["resourceId"] == "ps1"
    # the page may post to the LMS and nowhere else, and runs no inline script
    policy = answer.headers["content-security-policy"]
    assert f"form-action 'self' {LMS};" in policy
    assert "<script>" not in answer.text and "static/" in answer.text
    assert re.search(r'<button[^>]*type="submit"', answer.text)  # without script, a button


async def test_only_items_of_the_course_are_accepted(site: Site) -> None:
    url = deep_link(site.launch("ines", site.linked))
    async with signed_in(site, "ines") as c:
        _page, xsrf = await page_and_xsrf(c, url)
        for made_up in (
            "nb:README.md",  # in the repository, but not a notebook of the course
            "nb:../physics/week1/intro.ipynb",
            "nb:/etc/passwd",
            "as:mech",  # another course's assignment
            "xx:week1/intro.ipynb",
        ):
            posted = await c.post(url, data={"_xsrf": xsrf, "item": made_up}, headers=NAVIGATE)
            assert posted.status_code == 400, made_up
        nothing = await c.post(url, data={"_xsrf": xsrf}, headers=NAVIGATE)
        assert nothing.status_code == 400
        # none of that used the launch up
        fine = await c.post(
            url, data={"_xsrf": xsrf, "item": "nb:week1/intro.ipynb"}, headers=NAVIGATE
        )
        assert fine.status_code == 200


async def test_a_post_without_the_pages_xsrf_field_is_refused(site: Site) -> None:
    url = deep_link(site.launch("ines", site.linked))
    async with signed_in(site, "ines") as c:
        await page_and_xsrf(c, url)
        forged = await c.post(url, data={"item": "nb:week1/intro.ipynb"}, headers=NAVIGATE)
        assert forged.status_code == 403
        cross_site = {**NAVIGATE, "Sec-Fetch-Site": "cross-site"}
        _page, xsrf = await page_and_xsrf(c, url)
        posted = await c.post(
            url, data={"_xsrf": xsrf, "item": "nb:week1/intro.ipynb"}, headers=cross_site
        )
        assert posted.status_code == 403
    assert LaunchStore(site.db).get(url.rsplit("/", 1)[1]).used is False


async def test_someone_elses_launch_is_refused_and_logged_without_its_id(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    launch_id = site.launch("ines", site.linked)
    caplog.set_level(logging.INFO, logger="coursehub.lti")
    for other in ("tom", "tara", "ada", "sam"):  # a TA of the course, other staff, admin
        async with signed_in(site, other) as c:
            page = await c.get(deep_link(launch_id), headers=NAVIGATE)
        assert page.status_code == 403, other
        assert "someone else" in page.text
    refusals = [r for r in caplog.records if r.name == "coursehub.lti"]
    assert refusals and all(launch_id not in r.getMessage() for r in refusals)


async def test_students_cannot_choose_content_even_with_their_own_launch(site: Site) -> None:
    async with signed_in(site, "sam") as c:
        page = await c.get(deep_link(site.launch("sam", site.linked)), headers=NAVIGATE)
    assert page.status_code == 403 and "instructors" in page.text


async def test_a_teaching_assistant_may_choose_content(site: Site) -> None:
    async with signed_in(site, "tom") as c:
        page = await c.get(deep_link(site.launch("tom", site.linked)), headers=NAVIGATE)
    assert page.status_code == 200 and 'value="as:ps1"' in page.text


async def test_expired_unknown_and_wrong_kind_of_launches(site: Site) -> None:
    expired = site.launch("ines", site.linked)
    with site.db.session() as s:
        s.get(models.LtiLaunch, expired).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    plain = site.launch("ines", site.linked, message_type="LtiResourceLinkRequest")
    async with signed_in(site, "ines") as c:
        gone = await c.get(deep_link(expired), headers=NAVIGATE)
        assert gone.status_code == 410 and "expired" in gone.text
        made_up = await c.get(deep_link("x" * 32), headers=NAVIGATE)
        assert made_up.status_code in (404, 410)
        huge = await c.get(deep_link("x" * 5000), headers=NAVIGATE)
        assert huge.status_code in (404, 410, 414)
        wrong = await c.get(deep_link(plain), headers=NAVIGATE)
        assert wrong.status_code == 400


async def test_a_platform_that_takes_no_tool_links_is_told_so(site: Site) -> None:
    url = deep_link(site.launch("ines", site.linked, accept_types=["file", "html"]))
    async with signed_in(site, "ines") as c:
        page = await c.get(url, headers=NAVIGATE)
    assert page.status_code == 400 and "ltiResourceLink" in page.text


async def test_content_of_an_unlinked_lms_course_cannot_be_chosen(site: Site) -> None:
    async with signed_in(site, "ines") as c:
        page = await c.get(deep_link(site.launch("ines", site.unlinked)), headers=NAVIGATE)
    assert page.status_code == 404 and "not linked" in page.text


# -- linking an LMS course ----------------------------------------------------------------


def _context_course(site: Site, pk: int) -> str | None:
    with site.db.session() as s:
        return s.get(models.LtiContext, pk).course


async def test_an_instructor_links_the_lms_course_to_a_course_she_teaches(site: Site) -> None:
    url = link(site.launch("ines", site.unlinked, message_type="LtiResourceLinkRequest"))
    async with signed_in(site, "ines") as c:
        page, xsrf = await page_and_xsrf(c, url)
        assert page.status_code == 200
        assert "Geometry &lt;b&gt;2&lt;/b&gt;" in page.text and "<b>2</b>" not in page.text
        offered = re.findall(r'name="course" value="([^"]+)"', page.text)
        assert "algebra" in offered and "physics" not in offered
        refused = await c.post(url, data={"_xsrf": xsrf, "course": "physics"}, headers=NAVIGATE)
        assert refused.status_code == 403
        assert _context_course(site, site.unlinked) is None
        assert site.courses.role_of("physics", "ines") is None
        linked = await c.post(url, data={"_xsrf": xsrf, "course": "algebra"}, headers=NAVIGATE)
        assert linked.status_code == 303
        assert linked.headers["location"] == PREFIX + "course/algebra"
        again = await c.post(url, data={"_xsrf": xsrf, "course": "algebra"}, headers=NAVIGATE)
        assert again.status_code in (409, 410)
    assert _context_course(site, site.unlinked) == "algebra"
    assert site.courses.role_of("algebra", "ines") == "instructor"


async def test_a_site_admin_may_link_any_course_and_teaches_it_then(site: Site) -> None:
    url = link(site.launch("ada", site.unlinked, message_type="LtiResourceLinkRequest"))
    async with signed_in(site, "ada") as c:
        page, xsrf = await page_and_xsrf(c, url)
        offered = re.findall(r'name="course" value="([^"]+)"', page.text)
        assert {"algebra", "physics"} <= set(offered)
        done = await c.post(url, data={"_xsrf": xsrf, "course": "physics"}, headers=NAVIGATE)
    assert done.status_code == 303 and done.headers["location"] == PREFIX + "course/physics"
    assert _context_course(site, site.unlinked) == "physics"
    assert site.courses.role_of("physics", "ada") == "instructor"


async def test_nobody_but_the_launching_instructor_may_link(site: Site) -> None:
    url = link(site.launch("ines", site.unlinked, message_type="LtiResourceLinkRequest"))
    for other in ("sam", "tara"):
        async with signed_in(site, other) as c:
            page, xsrf = await page_and_xsrf(c, url)
            assert page.status_code == 403, other
            posted = await c.post(url, data={"_xsrf": xsrf, "course": "physics"}, headers=NAVIGATE)
            assert posted.status_code == 403, other
    assert _context_course(site, site.unlinked) is None


# -- the launch records -------------------------------------------------------------------


def test_a_launch_is_used_once_and_lives_an_hour(site: Site) -> None:
    store = LaunchStore(site.db)
    launch_id = site.launch("ines", site.linked)
    assert len(launch_id) >= 32 and launch_id != site.launch("ines", site.linked)
    record = store.get(launch_id)
    assert record is not None and record.username == "ines" and not record.used
    assert record.claims[DL + "deep_linking_settings"]["data"] == "lms-opaque-data"
    assert store.mark_used(launch_id) is True
    assert store.mark_used(launch_id) is False  # the second caller loses
    assert store.get(launch_id).used is True
    assert store.get("no-such-launch") is None
    short = store.save("ines", site.platform_id, site.linked, "LtiDeepLinkingRequest", {}, ttl=0)
    assert store.get(short) is None
