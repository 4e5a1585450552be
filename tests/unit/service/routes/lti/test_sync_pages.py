"""The course's LMS page below the browser: who sees it, what it shows (hostile text
stays text), and its two forms (XSRF, instructors only) against the platform
simulator. The hub is faked (tests/helpers/fake_hub.py)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from coursehub.config.models import LtiPlatformConfig
from coursehub.courses.store import CourseStore
from coursehub.db import models
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.lti.identities import IdentityStore, LmsPerson
from coursehub.lti.keys import ToolKey, jwks
from coursehub.lti.platforms import PlatformStore
from coursehub.service import cookies
from coursehub.service.context import context_of
from coursehub.service.routes.lti import sync_pages as lti_sync_pages
from coursehub.service.tasks.lti import start_background
from tests.helpers.coursedb import add_courses
from tests.helpers.fake_hub import API_TOKEN, PREFIX, bearer, client, service_on, user
from tests.helpers.fake_hub import build as build_app
from tests.helpers.gitrepo import make_repo
from tests.helpers.lti_fixtures import store_key
from tests.helpers.lti_platform import AGS_CLAIM, LEARNER, NRPS_CLAIM, PlatformSimulator

HOSTILE = "<script>alert('x')</script> & co"
PAGE = f"{PREFIX}course/algebra/lms"
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def sim(tool_key: ToolKey) -> Iterator[PlatformSimulator]:
    with PlatformSimulator() as platform:
        platform.tool_jwks = jwks(tool_key)
        for uid, given in (("u-sam", "Sam"), ("u-nina", "Nina")):
            platform.add_member(
                uid,
                name=f"{given} Student",
                given_name=given,
                family_name="Student",
                email=f"{given.lower()}@example.org",
                roles=[LEARNER],
            )
        yield platform


@pytest.fixture
def site(
    tmp_path: Path, tool_key: ToolKey, sim: PlatformSimulator, course_store: CourseStore
) -> Iterator[FastAPI]:
    repo = make_repo(tmp_path / "repo", {"README.md": "# Algebra\n"})
    db, data = course_store.db, course_store.layout.root
    store_key(tool_key, course_store.layout)
    members = {
        "algebra": {"sam": "student", "ines": "instructor", "tom": "ta"},
        "physics": {"tara": "instructor"},
    }
    add_courses(course_store, repo, members)
    spec = LtiPlatformConfig(**sim.platform_fields())
    platform = PlatformStore(db).add(spec)
    IdentityStore(db).username_for(
        platform, LmsPerson(subject="u-sam", email="sam@example.org"), "email"
    )
    claims = sim.launch_claims("u-sam")
    with db.session() as s:
        ctx = models.LtiContext(
            platform_id=platform.id,
            context_id="ctx-101",
            course="algebra",
            title="Algebra <b>101</b>",
            ags_lineitems_url=claims[AGS_CLAIM]["lineitems"],
            ags_scopes=json.dumps(claims[AGS_CLAIM]["scope"]),
            nrps_url=claims[NRPS_CLAIM]["context_memberships_url"],
        )
        s.add(ctx)
        s.flush()
        # a score the LMS refused, with the LMS's (hostile) words
        s.add(
            models.LtiGradeSync(
                context_pk=ctx.id,
                course="algebra",
                assignment="ps1",
                username="sam",
                score=2.0,
                max_score=3.0,
                status="failed",
                attempts=1,
                last_error=f"HTTP 400: {HOSTILE}",
            )
        )
    grading = GradingStore(db, GradingPaths(data))
    a = grading.save_assignment(
        "algebra", "ps1", "nbgrader", [{"name": "q1", "points": 3}], ["ps1.ipynb"]
    )
    sub = grading.submit(a, "sam", {"ps1.ipynb": b"{}"}).submission
    grading.enqueue([sub.id], "test")
    gid = grading.claim().id
    results = json.dumps({"q1": {"points": 2.0, "max": 3.0, "kind": "auto"}})
    grading.finish(gid, state="done", total=2.0, max_total=3.0, questions=results)
    db.dispose()

    app = service_on(
        db.url,
        data,
        {
            "tok-tom": user("tom", ("coursehub-students",)),
            "tok-tara": user("tara", ("coursehub-instructors",)),
        },
        COURSEHUB_LTI=json.dumps(
            {"enabled": True, "grade_passback": True, "roster_sync_seconds": 3600}
        ),
    )
    if not any(getattr(r, "path", "") == PAGE.replace("algebra", "{course}") for r in app.routes):
        app.include_router(lti_sync_pages.router, prefix=PREFIX.rstrip("/"))
    context_of(app).lti_grade_wake = asyncio.Event()
    yield app
    if context_of(app).made("_lti_tokens"):
        context_of(app).lti_tokens.close()
    if context_of(app).made("database"):
        context_of(app).database.dispose()


async def test_staff_see_the_linked_lms_course_and_every_score(site: FastAPI) -> None:
    async with client(site) as c:
        page = await c.get(PAGE, headers=bearer("tok-inst"))
        assert page.status_code == 200
        text = page.text
        assert "sim" in text and "Algebra &lt;b&gt;101&lt;/b&gt;" in text
        row = re.search(r'<tr data-student="sam".*?</tr>', text, re.S).group(0)
        assert 'data-status="failed"' in row and "2 / 3" in row
        assert "&lt;script&gt;" in row and "<script>alert" not in text
        assert 'id="resend"' in text and 'id="sync-roster"' in text
        ta = await c.get(PAGE, headers=bearer("tok-tom"))
        assert ta.status_code == 200 and 'data-student="sam"' in ta.text
        assert 'id="resend"' not in ta.text and 'id="sync-roster"' not in ta.text


async def test_students_get_403_and_strangers_404(site: FastAPI) -> None:
    async with client(site) as c:
        student = await c.get(PAGE, headers=bearer("tok-student"))
        assert student.status_code == 403 and "HTTP 400" not in student.text
        stranger = await c.get(PAGE, headers=bearer("tok-tara"))
        assert stranger.status_code == 404
        for action in ("resend", "roster"):
            posted = await c.post(f"{PAGE}/{action}", headers=bearer("tok-student"))
            assert posted.status_code in (401, 403)


async def _signed_in(site: FastAPI, token: str) -> tuple[httpx.AsyncClient, str]:
    c = client(site)
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", token)
    c.cookies.set("service-coursehub", signed)
    page = await c.get(PAGE, headers=NAVIGATE)
    xsrf = re.search(r'name="coursehub-xsrf" content="([^"]+)"', page.text)
    return c, xsrf.group(1) if xsrf else ""


def _rows(site: FastAPI) -> list[tuple[str, str]]:
    with context_of(site).database.session() as s:
        return [
            (r.username, r.status)
            for r in s.scalars(select(models.LtiGradeSync).order_by(models.LtiGradeSync.id))
        ]


async def test_resend_all_needs_the_xsrf_field_and_an_instructor(site: FastAPI) -> None:
    c, xsrf = await _signed_in(site, "tok-tom")
    try:
        refused = await c.post(f"{PAGE}/resend", data={"_xsrf": xsrf}, headers=NAVIGATE)
        assert refused.status_code == 403 and "instructors" in refused.text
    finally:
        await c.aclose()
    c, xsrf = await _signed_in(site, "tok-inst")
    try:
        assert xsrf
        bare = await c.post(f"{PAGE}/resend", data={}, headers=NAVIGATE)
        assert bare.status_code == 403 and _rows(site) == [("sam", "failed")]
        assert not context_of(site).lti_grade_wake.is_set()
        done = await c.post(f"{PAGE}/resend", data={"_xsrf": xsrf}, headers=NAVIGATE)
        assert done.status_code == 303 and done.headers["location"].endswith("/lms?queued=1")
        assert _rows(site) == [("sam", "pending")]
        assert context_of(site).lti_grade_wake.is_set()  # the sender goes at once
        shown = await c.get(done.headers["location"], headers=NAVIGATE)
        assert "1 score queued for the LMS." in shown.text
    finally:
        await c.aclose()


async def test_sync_roster_now_enrols_the_lms_members(
    site: FastAPI, sim: PlatformSimulator
) -> None:
    c, xsrf = await _signed_in(site, "tok-inst")
    try:
        done = await c.post(f"{PAGE}/roster", data={"_xsrf": xsrf}, headers=NAVIGATE)
        assert done.status_code == 303
        assert done.headers["location"].endswith("?added=1&updated=0&removed=0&skipped=0")
        shown = await c.get(done.headers["location"], headers=NAVIGATE)
        assert "Roster synced: 1 added, 0 updated, 0 removed, 0 skipped." in shown.text
        assert "ok: 2 members listed" in shown.text
    finally:
        await c.aclose()
    store = context_of(site).courses
    assert store.role_of("algebra", "nina") == "student"
    assert sim.tokens_issued == 1


async def _until(check, what: str) -> None:  # noqa: ANN001
    for _ in range(300):
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def test_the_background_work_sends_scores_and_syncs_rosters(
    site: FastAPI, sim: PlatformSimulator
) -> None:
    workers = context_of(site).grading.workers
    if workers is None:
        pytest.skip("grading workers exist only when the service runs as root")
    tasks = start_background(site)
    try:
        assert len(tasks) == 2 and len(workers.listeners) == 1
        store = context_of(site).courses
        # the roster is synced at start (never synced before)
        await _until(lambda: store.role_of("algebra", "nina") == "student", "nina enrolled")
        # a grading told to the workers' listeners reaches the LMS without anyone asking
        with context_of(site).database.session() as s:
            gid = s.scalar(select(models.Grading.id))
        await workers.tell(gid)
        await _until(lambda: bool(sim.scores), "the score sent")
        ((_item, user_id), score) = next(iter(sim.scores.items()))
        assert (user_id, score["scoreGiven"], score["scoreMaximum"]) == ("u-sam", 2, 3)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_nothing_starts_when_the_lms_feature_is_off(tmp_path: Path) -> None:
    app, _ = build_app(
        COURSEHUB_DATABASE_URL=f"sqlite:///{tmp_path / 'c.sqlite'}",
        COURSEHUB_DATA_DIR=str(tmp_path / "data"),
        COURSEHUB_LTI=json.dumps({"enabled": False}),
    )
    assert start_background(app) == []


async def test_a_score_waiting_for_grading_by_hand_is_shown_as_partial(site: FastAPI) -> None:
    """ps2's answer graded by hand got nbgrader's automatic 0: its score goes to the LMS
    as partial (PendingManual), and the page says so until a person grades it."""
    grading = context_of(site).grading.store
    questions = [{"name": "q1", "points": 2}, {"name": "q2", "points": 1, "kind": "manual"}]
    a = grading.save_assignment("algebra", "ps2", "nbgrader", questions, ["ps2.ipynb"])
    sub = grading.submit(a, "sam", {"ps2.ipynb": b"{}"}).submission
    grading.enqueue([sub.id], "test")
    gid = grading.claim().id
    results = {"q1": {"points": 2.0, "kind": "auto"}, "q2": {"points": 0.0, "kind": "manual"}}
    grading.finish(gid, state="done", total=2.0, max_total=3.0, questions=json.dumps(results))
    with context_of(site).database.session() as s:
        ctx = s.scalar(select(models.LtiContext.id))
        s.add(
            models.LtiGradeSync(
                context_pk=ctx, course="algebra", assignment="ps2", username="sam",
                score=2.0, max_score=3.0, status="sent",
            )
        )  # fmt: skip

    def row(text: str, assignment: str) -> str:
        pattern = rf'<tr data-student="sam" data-assignment="{assignment}".*?</tr>'
        return re.search(pattern, text, re.S).group(0)

    async with client(site) as c:
        text = (await c.get(PAGE, headers=bearer("tok-inst"))).text
        assert "partial" in row(text, "ps2") and "partial" not in row(text, "ps1")
        grading.set_manual(sub.id, "q2", 0, "", "ines")
        text = (await c.get(PAGE, headers=bearer("tok-inst"))).text
        assert "partial" not in row(text, "ps2")
