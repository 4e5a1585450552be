"""Scores to an LMS gradebook (AGS) against the platform simulator: real HTTP, a real
SQLite database, a real course; gradings are finished by hand with known points (the
grader itself is tested elsewhere)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import select, update

from coursehub.config.models import GradingLimitsConfig, LtiPlatformConfig
from coursehub.courses.store import CourseStore
from coursehub.db import models
from coursehub.db.session import Database
from coursehub.grading.grader import limits_from
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.grading.workers import GradingWorkers
from coursehub.lti import grade_sync
from coursehub.lti.identities import IdentityStore, LmsPerson
from coursehub.lti.keys import ToolKey, jwks
from coursehub.lti.platforms import Platform, PlatformStore
from coursehub.lti.roster_sync import sync_course_roster
from coursehub.lti.service_token import ServiceTokenError, ServiceTokens, client_assertion
from coursehub.service.tasks.grading import GradingService
from tests.helpers.lti_fixtures import lti_cli
from tests.helpers.lti_platform import AGS_CLAIM, LEARNER, NRPS_CLAIM, PlatformSimulator

QUESTIONS = [
    {"name": "q1", "points": 2, "kind": "auto"},
    {"name": "q2", "points": 1, "kind": "manual"},
]
ITEMS = "/ags/ctx-101/lineitems"


@dataclass
class Site:
    sim: PlatformSimulator
    db: Database
    courses: CourseStore
    grading: GradingStore
    platform: Platform
    tokens: ServiceTokens
    workers: GradingWorkers

    def link(self, course: str) -> int:
        """An LMS course linked to `course`, with the services a launch offers."""
        claims = self.sim.launch_claims("u-alice")
        with self.db.session() as s:
            row = models.LtiContext(
                platform_id=self.platform.id,
                context_id="ctx-101",
                course=course,
                title="Physics 101",
                ags_lineitems_url=claims[AGS_CLAIM]["lineitems"],
                ags_scopes=json.dumps(claims[AGS_CLAIM]["scope"]),
                nrps_url=claims[NRPS_CLAIM]["context_memberships_url"],
            )
            s.add(row)
            s.flush()
            return row.id

    def graded(self, username: str, q1: float, course: str = "physics") -> tuple[int, int]:
        """A submission of ps1 by `username`, autograded with q1 points (q2 is by hand)."""
        a = self.grading.get(course, "ps1")
        sub = self.grading.submit(a, username, {"ps1.ipynb": b"{}"}).submission
        self.grading.enqueue([sub.id], "test")
        gid = self.grading.claim().id
        results = {"q1": {"points": q1, "max": 2, "kind": "auto", "passed": True}}
        self.grading.finish(gid, state="done", total=q1, max_total=3, questions=json.dumps(results))
        return sub.id, gid

    def rows(self, course: str = "physics") -> list[models.LtiGradeSync]:
        with self.db.session() as s:
            return list(
                s.scalars(select(models.LtiGradeSync).where(models.LtiGradeSync.course == course))
            )

    def lms_scores(self) -> dict[str, dict[str, Any]]:
        """userId -> the score the LMS holds, on our one line item."""
        with self.sim.lock:
            return {user: dict(score) for (_item, user), score in self.sim.scores.items()}


@pytest.fixture
def site(tool_key: ToolKey, cli_courses: CourseStore) -> Iterator[Site]:
    courses, db, layout = cli_courses, cli_courses.db, cli_courses.layout
    for name in ("alice", "bob"):
        courses.enrol("physics", name)
    grading = GradingStore(db, GradingPaths(layout.root))
    grading.save_assignment("physics", "ps1", "nbgrader", QUESTIONS, ["ps1.ipynb"], "Problem set 1")
    with PlatformSimulator() as sim:
        sim.tool_jwks = jwks(tool_key)
        sim.add_member(
            "u-alice",
            name="Alice Liddell",
            given_name="Alice",
            family_name="Liddell",
            email="alice@example.org",
            roles=[LEARNER],
        )
        spec = LtiPlatformConfig(**sim.platform_fields())
        platform = PlatformStore(db).add(spec)
        person = LmsPerson(subject="u-alice", email="alice@example.org")
        assert IdentityStore(db).username_for(platform, person, "email") == "alice"
        tokens = ServiceTokens(tool_key)
        workers = GradingWorkers(grading, limits_from(GradingLimitsConfig()))
        made = Site(sim, db, courses, grading, platform, tokens, workers)
        made.link("physics")
        try:
            yield made
        finally:
            tokens.close()


def _listen(site: Site) -> list[int]:
    woken: list[int] = []
    listener = grade_sync.score_listener(site.db, wake=lambda: woken.append(1))
    site.workers.listeners.append(listener)
    return woken


async def test_a_graded_score_reaches_the_lms_with_the_lms_id_and_later_manual_points(
    site: Site,
) -> None:
    woken = _listen(site)
    sid, gid = site.graded("alice", 2)
    await site.workers.tell(gid)
    assert woken == [1]
    assert grade_sync.send_due(site.db, site.tokens).sent == 1
    (item,) = site.sim.line_items.values()
    assert (item["resourceId"], item["tag"], item["label"]) == ("ps1", "coursehub", "Problem set 1")
    assert item["scoreMaximum"] == 3
    first = site.lms_scores()["u-alice"]
    assert (first["scoreGiven"], first["scoreMaximum"]) == (2, 3)
    assert first["activityProgress"] == "Completed"
    assert first["gradingProgress"] == "PendingManual"  # q2 waits for a person

    # told again with nothing new: nothing is queued or sent
    await site.workers.tell(gid)
    assert woken == [1]
    assert grade_sync.send_due(site.db, site.tokens).handled == 0
    assert len(site.sim.score_posts) == 1

    # sent again on purpose (Resend all): the LMS's record does not change
    assert grade_sync.requeue_course(site.db, "physics") == 1
    assert grade_sync.send_due(site.db, site.tokens).sent == 1
    assert len(site.sim.score_posts) == 2
    assert site.lms_scores()["u-alice"] == first

    # staff grade q2 by hand: the LMS gets the combined total, fully graded
    site.grading.set_manual(sid, "q2", 1, "Well argued.", "ines")
    await GradingService(site.grading, site.workers, 500).manual_changed(sid)
    assert grade_sync.send_due(site.db, site.tokens).sent == 1
    now = site.lms_scores()["u-alice"]
    assert (now["scoreGiven"], now["gradingProgress"]) == (3, "FullyGraded")
    assert now["timestamp"] > first["timestamp"]
    assert len(site.sim.line_items) == 1  # the column was found again, not remade
    assert site.sim.tokens_issued == 1  # one access token for all of it
    (row,) = site.rows()
    assert (row.status, row.score, row.max_score, row.last_error) == ("sent", 3, 3, "")


async def test_the_service_sender_sends_a_queued_score_when_woken(site: Site) -> None:
    wake = asyncio.Event()
    listener = grade_sync.score_listener(site.db, wake=wake.set)
    site.workers.listeners.append(listener)
    sender = asyncio.create_task(grade_sync.send_forever(site.db, site.tokens, wake, 3600))
    try:
        await asyncio.sleep(0)  # the sender's first (empty) pass
        _sid, gid = site.graded("alice", 1.5)
        await site.workers.tell(gid)
        for _ in range(200):
            if "u-alice" in site.lms_scores():
                break
            await asyncio.sleep(0.1)
        assert site.lms_scores()["u-alice"]["scoreGiven"] == 1.5
    finally:
        sender.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sender


def test_server_errors_and_rate_limits_are_retried_later(site: Site) -> None:
    site.graded("alice", 2)
    assert grade_sync.enqueue_for(site.db, "physics", "ps1", "alice") == 1
    t0 = datetime.now(UTC)
    site.sim.fail_next(ITEMS, 1, 500)
    assert grade_sync.send_due(site.db, site.tokens, now=t0).retrying == 1
    (row,) = site.rows()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "HTTP 500" in row.last_error and "injected failure" in row.last_error
    # not due yet: nothing is tried
    assert grade_sync.send_due(site.db, site.tokens, now=t0).handled == 0
    # the LMS asks for ten minutes' patience: it gets them
    site.sim.fail_next(ITEMS, 1, 429, retry_after=600)
    later = t0 + timedelta(seconds=31)
    assert grade_sync.send_due(site.db, site.tokens, now=later).retrying == 1
    (row,) = site.rows()
    assert row.next_try_at.replace(tzinfo=UTC) >= later + timedelta(seconds=600)
    assert grade_sync.send_due(site.db, site.tokens, now=later + timedelta(seconds=60)).handled == 0
    assert grade_sync.send_due(site.db, site.tokens, now=t0 + timedelta(hours=1)).sent == 1
    assert site.lms_scores()["u-alice"]["scoreGiven"] == 2
    (row,) = site.rows()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")


def test_an_lms_that_keeps_failing_is_given_up_after_ten_tries(site: Site) -> None:
    site.graded("alice", 2)
    grade_sync.enqueue_for(site.db, "physics", "ps1", "alice")
    site.sim.fail_next(ITEMS, 100, 503)
    t0 = datetime.now(UTC)
    for hour in range(12):
        grade_sync.send_due(site.db, site.tokens, now=t0 + timedelta(hours=hour))
    (row,) = site.rows()
    assert (row.status, row.attempts) == ("failed", 10)
    assert row.last_error.startswith("gave up after 10 tries: ") and "HTTP 503" in row.last_error
    assert site.sim.score_posts == []


def test_a_score_the_lms_refuses_fails_at_once_with_its_message(site: Site) -> None:
    site.graded("alice", 2)
    grade_sync.enqueue_for(site.db, "physics", "ps1", "alice")
    del site.sim.members["u-alice"]  # she left the LMS course
    assert grade_sync.send_due(site.db, site.tokens).failed == 1
    (row,) = site.rows()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "HTTP 400" in row.last_error and "is not a member of this context" in row.last_error
    later = datetime.now(UTC) + timedelta(days=1)
    assert grade_sync.send_due(site.db, site.tokens, now=later).handled == 0


async def test_a_student_with_no_lms_identity_is_reported_not_sent(site: Site) -> None:
    woken = _listen(site)
    _sid, gid = site.graded("bob", 2)
    await site.workers.tell(gid)
    assert woken == []
    (row,) = site.rows()
    assert (row.username, row.status, row.score) == ("bob", "failed", 2)
    assert "bob has no account known to sim" in row.last_error
    assert grade_sync.send_due(site.db, site.tokens).handled == 0
    assert site.sim.score_posts == [] and site.sim.tokens_issued == 0


async def test_remote_api_courses_are_never_sent(site: Site) -> None:
    # the remote grading API's course, linked as if the LMS course pointed at it
    with site.db.session() as s:
        s.add(models.Course(name="lms+x", repo_url="-", branch="main"))
        s.flush()
        s.execute(update(models.LtiContext).values(course="lms+x"))
    site.grading.save_assignment("lms+x", "ps1", "otter", QUESTIONS, ["ps1.ipynb"])
    woken = _listen(site)
    _sid, gid = site.graded("alice", 2, course="lms+x")
    await site.workers.tell(gid)
    assert grade_sync.enqueue_for(site.db, "lms+x", "ps1", "alice") == 0
    assert grade_sync.requeue_course(site.db, "lms+x") == 0
    assert grade_sync.send_due(site.db, site.tokens).handled == 0
    assert woken == [] and site.rows("lms+x") == [] and site.sim.score_posts == []


def test_no_scores_are_queued_when_grade_passback_is_off(site: Site) -> None:
    site.graded("alice", 2)
    assert grade_sync.enqueue_for(site.db, "physics", "ps1", "alice", grade_passback=False) == 0
    assert grade_sync.requeue_course(site.db, "physics", grade_passback=False) == 0
    assert site.rows() == []


def test_a_refused_token_fails_with_the_platforms_words_and_not_the_assertion(
    site: Site,
) -> None:
    site.sim.tool_jwks = {"keys": []}  # the LMS does not know the tool's key
    with pytest.raises(ServiceTokenError) as refused:
        site.tokens.token(site.platform, ["https://purl.imsglobal.org/spec/lti-ags/scope/score"])
    assert refused.value.status == 401 and not refused.value.temporary
    assert "invalid_client" in str(refused.value) or "client assertion" in str(refused.value)
    site.graded("alice", 2)
    grade_sync.enqueue_for(site.db, "physics", "ps1", "alice")
    assert grade_sync.send_due(site.db, site.tokens).failed == 1
    (row,) = site.rows()
    assert row.status == "failed" and "refused a token" in row.last_error
    assert "eyJ" not in row.last_error  # no JWT, ours or theirs


def test_a_score_left_sending_by_a_stopped_sender_goes_out_after_the_lease(site: Site) -> None:
    site.graded("alice", 2)
    grade_sync.enqueue_for(site.db, "physics", "ps1", "alice")
    crashed_at = datetime.now(UTC)
    with site.db.session() as s:
        s.execute(update(models.LtiGradeSync).values(status="sending", updated_at=crashed_at))
    assert grade_sync.send_due(site.db, site.tokens, now=crashed_at).handled == 0
    after_lease = crashed_at + grade_sync.LEASE + timedelta(seconds=1)
    assert grade_sync.send_due(site.db, site.tokens, now=after_lease).sent == 1
    assert site.lms_scores()["u-alice"]["scoreGiven"] == 2


def test_an_expired_token_and_a_deleted_column_are_recovered(site: Site) -> None:
    site.graded("alice", 2)
    grade_sync.enqueue_for(site.db, "physics", "ps1", "alice")
    assert grade_sync.send_due(site.db, site.tokens).sent == 1
    site.sim.expire_tokens()
    with site.sim.lock:  # someone deletes the column in the LMS gradebook
        site.sim.line_items.clear()
        site.sim.scores.clear()
    grade_sync.requeue_course(site.db, "physics")
    assert grade_sync.send_due(site.db, site.tokens).sent == 1
    assert site.sim.tokens_issued == 2
    (item,) = site.sim.line_items.values()
    assert item["resourceId"] == "ps1"
    assert site.lms_scores()["u-alice"]["scoreGiven"] == 2


def test_the_client_assertion_is_signed_by_the_tool_key_for_the_token_endpoint(
    site: Site, tool_key: ToolKey
) -> None:
    first = client_assertion(tool_key, site.platform)
    again = client_assertion(tool_key, site.platform)
    assert jwt.get_unverified_header(first)["kid"] == tool_key.kid
    claims = jwt.decode(
        first, tool_key.public, algorithms=["RS256"], audience=site.sim.auth_token_url
    )
    assert claims["iss"] == claims["sub"] == site.sim.client_id
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"] != jwt.decode(again, options={"verify_signature": False})["jti"]


def test_sync_grades_sends_now_and_shows_what_was_not_sent(site: Site, tmp_path: Path) -> None:
    site.graded("alice", 2)
    site.graded("bob", 1)
    done = lti_cli(tmp_path, "sync-grades", "physics")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if "│" in line}
    assert "2 / 3" in lines["alice"] and "sent" in lines["alice"]
    assert "failed" in lines["bob"] and "no account known" in done.stdout
    assert "1 of 2 sent" in done.stdout
    assert site.lms_scores()["u-alice"]["scoreGiven"] == 2
    missing = lti_cli(tmp_path, "sync-grades", "nowhere")
    assert missing.returncode != 0 and "no course 'nowhere'" in missing.stderr


def test_a_score_waiting_for_an_lms_account_goes_out_once_a_roster_sync_makes_it(
    site: Site,
) -> None:
    site.graded("bob", 1)
    assert grade_sync.enqueue_for(site.db, "physics", "ps1", "bob") == 0  # failed: no account
    site.sim.add_member(
        "u-bob",
        name="Bob Brown",
        given_name="Bob",
        family_name="Brown",
        email="bob@example.org",
        roles=[LEARNER],
    )
    report = sync_course_roster(site.db, site.courses, site.tokens, "physics", "email")
    assert report.scores_queued == 1
    assert grade_sync.send_due(site.db, site.tokens).sent == 1
    assert site.lms_scores()["u-bob"]["scoreGiven"] == 1
    assert [(r.username, r.status, r.last_error) for r in site.rows()] == [("bob", "sent", "")]


async def test_an_automatic_0_reaches_the_lms_as_partial_until_a_person_grades(
    site: Site,
) -> None:
    """nbgrader gives 0 to an answer left as handed out (an untouched `raise
    NotImplementedError()`): the LMS gets the total so far as PendingManual, and only a
    person's points, even the same 0, make it FullyGraded."""
    woken = _listen(site)
    a = site.grading.get("physics", "ps1")
    sub = site.grading.submit(a, "alice", {"ps1.ipynb": b"{}"}).submission
    site.grading.enqueue([sub.id], "test")
    # not graded yet: nothing to send
    assert grade_sync.enqueue_for(site.db, "physics", "ps1", "alice") == 0
    gid = site.grading.claim().id
    results = {
        "q1": {"points": 2, "max": 2, "kind": "auto", "passed": True},
        "q2": {"points": 0.0, "max": 1, "kind": "manual"},  # the automatic 0
    }
    site.grading.finish(gid, state="done", total=2, max_total=3, questions=json.dumps(results))
    await site.workers.tell(gid)
    assert woken == [1] and grade_sync.send_due(site.db, site.tokens).sent == 1
    first = site.lms_scores()["u-alice"]
    assert (first["scoreGiven"], first["scoreMaximum"], first["activityProgress"]) == (
        2, 3, "Completed",
    )  # fmt: skip
    assert first["gradingProgress"] == "PendingManual"

    service = GradingService(site.grading, site.workers, 500)
    site.grading.set_manual(sub.id, "q2", 0, "Nothing was written.", "ines")  # a person's 0
    await service.manual_changed(sub.id)
    assert grade_sync.send_due(site.db, site.tokens).sent == 1
    final = site.lms_scores()["u-alice"]
    assert (final["scoreGiven"], final["gradingProgress"]) == (2, "FullyGraded")
    assert final["timestamp"] > first["timestamp"]

    site.grading.set_manual(sub.id, "q2", None, "", "ines")  # the grade taken back
    await service.manual_changed(sub.id)
    assert grade_sync.send_due(site.db, site.tokens).sent == 1
    again = site.lms_scores()["u-alice"]
    assert (again["scoreGiven"], again["gradingProgress"]) == (2, "PendingManual")
