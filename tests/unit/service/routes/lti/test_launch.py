"""LTI 1.3 launches through the coursehub service, from a platform simulator over real
HTTP on loopback: the OIDC login, the platform's signed id_token, and every way a launch
must be refused (with a page saying why, and a log line).

The hub is faked here (tests/helpers/fake_hub.py): the launch ends in a one-time
sign-in ticket, which these tests redeem directly; the real hub redeems it in
tests/integration/lti/test_lti_hub.py.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from coursehub.config.layout import DataLayout
from coursehub.db.models import LtiContext, LtiIdentity
from tests.helpers.fake_hub import PREFIX, client
from tests.helpers.lti_platform import INSTRUCTOR, LEARNER, PlatformSimulator
from tests.helpers.lti_site import (
    BASE,
    LAUNCH,
    LOGIN,
    Site,
    launch,
    login_state,
    register,
    sim,
    site,
)

__all__ = ["sim", "site"]  # fixtures


async def test_instructor_launch_creates_the_course_and_student_lands_in_the_notebook(
    site: Site, sim: PlatformSimulator
) -> None:
    async with client(site.app, BASE) as c:
        username, next_url = site.redeem(await launch(c, sim, "u-ines", roles=[INSTRUCTOR]))
    assert username == "ines"
    assert next_url == PREFIX + "course/phys101"
    course = site.courses.get("phys101")
    assert course is not None
    assert site.courses.role_of("phys101", "ines") == "instructor"
    repo = DataLayout(site.data).course_repo("phys101")
    assert (repo / "welcome.ipynb").is_file()
    with site.db.session() as s:
        context = s.query(LtiContext).one()
        assert context.course == "phys101" and context.title == "Physics 101"
        assert context.ags_lineitems_url.endswith("/ags/ctx-101/lineitems")
        assert context.nrps_url.endswith("/nrps/ctx-101/memberships")

    async with client(site.app, BASE) as c:
        custom = {"coursehub_notebook": "welcome.ipynb"}
        username, next_url = site.redeem(await launch(c, sim, "u-sam", custom=custom))
    assert username == "sam"
    assert next_url == PREFIX + "open/phys101/welcome.ipynb"
    assert site.courses.role_of("phys101", "sam") == "student"
    # the same person launching again is the same account, in the same course
    async with client(site.app, BASE) as c:
        again, _ = site.redeem(
            await launch(c, sim, "u-sam", custom={"coursehub_assignment": "ps1"})
        )
    assert again == "sam"


async def test_student_before_the_course_is_linked_is_told_to_wait(
    site: Site, sim: PlatformSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    async with client(site.app, BASE) as c:
        with caplog.at_level(logging.WARNING, logger="coursehub.lti"):
            response = await launch(c, sim, "u-sam")
    assert response.status_code == 409
    assert "ask your instructor" in response.text
    assert "not_linked" in caplog.text
    assert site.courses.list() == []


def _tampered(name: str, sim: PlatformSimulator, nonce: str) -> str:
    claims = sim.launch_claims("u-sam", nonce=nonce)
    if name == "self_signed":
        return sim.sign(claims, key="rogue")
    if name == "unknown_kid":
        return sim.sign(claims, kid="no-such-key")
    if name == "wrong_aud":
        claims["aud"] = "another-tool"
        claims["azp"] = "another-tool"
    if name == "several_aud_without_azp":
        claims["aud"] = [sim.client_id, "another-tool"]
        del claims["azp"]
    if name == "expired":
        claims["iat"] = int(time.time()) - 3600
        claims["exp"] = int(time.time()) - 600
    if name == "unregistered_issuer":
        claims["iss"] = "https://evil.example.org"
    if name == "alg_none":
        return sim.sign(claims, alg="none")
    if name == "hs256_with_public_key":
        return sim.sign(claims, alg="HS256")
    if name == "unknown_deployment":
        claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] = "999"
    if name == "wrong_nonce":
        claims["nonce"] = "made-up"
    return sim.sign(claims)


REFUSALS = {
    "self_signed": (403, "bad_signature", "signature does not match"),
    "unknown_kid": (403, "unknown_kid", "does not publish"),
    "wrong_aud": (403, "wrong_audience", "meant for another tool"),
    "several_aud_without_azp": (403, "missing_azp", "authorized party"),
    "expired": (403, "expired", "has expired"),
    "unregistered_issuer": (403, "unregistered_issuer", "not a registered LMS"),
    "alg_none": (400, "bad_algorithm", "requires RS256"),
    "hs256_with_public_key": (400, "bad_algorithm", "requires RS256"),
    "unknown_deployment": (403, "unknown_deployment", "not registered"),
    "wrong_nonce": (403, "nonce_mismatch", "nonce"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_hostile_launches_are_refused_with_a_page_and_a_log_line(
    case: str, site: Site, sim: PlatformSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    status, code, words = REFUSALS[case]
    async with client(site.app, BASE) as c:
        state, nonce = await login_state(c, sim, "u-sam")
        with caplog.at_level(logging.WARNING, logger="coursehub.lti"):
            response = await c.post(
                LAUNCH, data={"id_token": _tampered(case, sim, nonce), "state": state}
            )
    assert response.status_code == status
    assert "text/html" in response.headers["content-type"]
    assert "The LMS launch was refused" in response.text and words in response.text
    assert f"LTI launch refused ({code})" in caplog.text
    assert "eyJ" not in caplog.text  # never a token in the log
    with site.db.session() as s:
        assert s.query(LtiContext).count() == 0  # nothing was recorded


async def test_replayed_launch_and_bad_state_are_refused(
    site: Site, sim: PlatformSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    async with client(site.app, BASE) as c:
        state, nonce = await login_state(c, sim, "u-ines")
        token = sim.sign(sim.launch_claims("u-ines", roles=[INSTRUCTOR], nonce=nonce))
        site.redeem(await c.post(LAUNCH, data={"id_token": token, "state": state}))
        with caplog.at_level(logging.WARNING, logger="coursehub.lti"):
            replay = await c.post(LAUNCH, data={"id_token": token, "state": state})
            assert replay.status_code == 403 and "already used" in replay.text
            # a state this browser was not given (another login's, or made up)
            other_state, other_nonce = await login_state(c, sim, "u-ines")
            token = sim.sign(sim.launch_claims("u-ines", nonce=other_nonce))
            forged = await c.post(LAUNCH, data={"id_token": token, "state": "made-up-state"})
            assert forged.status_code == 403 and "state does not match" in forged.text
    assert "(replayed)" in caplog.text and "(bad_state)" in caplog.text
    # a browser that did not keep the cookie (an LMS iframe) is told what to do
    async with client(site.app, BASE) as fresh:
        blocked = await fresh.post(LAUNCH, data={"id_token": token, "state": other_state})
    assert blocked.status_code == 403 and "new window" in blocked.text


async def test_the_same_sub_from_two_platforms_is_two_accounts(
    tmp_path: Path, sim: PlatformSimulator
) -> None:
    site = Site(tmp_path, sim)
    with PlatformSimulator() as other:
        other.tool_login_url = BASE + LOGIN
        other.tool_launch_url = BASE + LAUNCH
        other.add_member(
            "u-ines",
            name="Ines Other",
            given_name="Ines",
            family_name="Other",
            email="ines@uni.example",
            roles=[INSTRUCTOR],
        )
        register(site.db, other, "other")
        async with client(site.app, BASE) as c:
            first, _ = site.redeem(await launch(c, sim, "u-ines", roles=[INSTRUCTOR]))
        async with client(site.app, BASE) as c:
            second, _ = site.redeem(await launch(c, other, "u-ines", roles=[INSTRUCTOR]))
    assert first == "ines" and second == "ines-2"


async def test_login_from_an_unregistered_platform_is_refused(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    async with client(site.app, BASE) as c:
        with caplog.at_level(logging.WARNING, logger="coursehub.lti"):
            page = await c.get(LOGIN, params={"iss": "https://evil.example.org", "login_hint": "x"})
    assert page.status_code == 403 and "add-platform" in page.text
    assert "(unregistered_issuer)" in caplog.text


async def test_login_page_sets_the_state_cookie_and_offers_a_new_window(
    site: Site, sim: PlatformSimulator
) -> None:
    async with client(site.app, BASE) as c:
        hint = sim.new_launch("u-sam")
        page = await c.get(LOGIN, params=sim.login_params(hint))
    assert page.status_code == 200
    cookies = page.headers.get_list("set-cookie")
    state_cookie = next(h for h in cookies if h.startswith("coursehub-lti-") and "check" not in h)
    assert "HttpOnly" in state_cookie and "Path=/services/coursehub/lti/" in state_cookie
    assert 'target="_blank"' in page.text and "lti_login.js" in page.text
    retry = re.search(r'id="lti-new-window" href="([^"]+)"', page.text).group(1)
    assert parse_qs(urlparse(html.unescape(retry)).query)["login_hint"] == [hint]


async def test_a_class_launching_at_once_gets_one_account_each(
    site: Site, sim: PlatformSimulator
) -> None:
    """30 students click the activity at the same moment, and one of them twice (two
    tabs): every launch lands, each person has exactly one account and enrolment."""
    async with client(site.app, BASE) as c:
        site.redeem(await launch(c, sim, "u-ines", roles=[INSTRUCTOR]))
    students = [f"u-s{i:02d}" for i in range(30)]
    for i, user_id in enumerate(students):
        sim.add_member(
            user_id,
            name=f"Student {i}",
            given_name="Student",
            family_name=str(i),
            email=f"student{i}@uni.example",
            roles=[LEARNER],
        )

    async def one(user_id: str) -> tuple[str, str]:
        async with client(site.app, BASE) as c:
            return site.redeem(await launch(c, sim, user_id))

    landed = await asyncio.gather(*(one(u) for u in [*students, "u-s00", "u-s00"]))
    names = {name for name, _ in landed}
    assert names == {f"student{i}" for i in range(30)}
    assert all(where == PREFIX + "course/phys101" for _, where in landed)
    members = {m.username for m in site.courses.members("phys101", role="student")}
    assert members == names
    with site.db.session() as s:
        assert s.query(LtiIdentity).count() == 31  # the instructor and 30 students


async def test_oversized_launches_are_refused_before_parsing(site: Site) -> None:
    async with client(site.app, BASE) as c:
        big = await c.post(LAUNCH, data={"id_token": "x" * 400_000, "state": "s"})
        login = await c.post(LOGIN, data={"iss": "x" * 400_000, "login_hint": "h"})
    assert big.status_code == 413 and login.status_code == 413


async def test_unreachable_platform_keys_give_a_clear_page(
    tmp_path: Path, sim: PlatformSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    site = Site(tmp_path, sim)
    with site.db.session() as s:
        from coursehub.db.models import LtiPlatform

        s.query(LtiPlatform).update({"key_set_url": "http://127.0.0.1:9/jwks"})
    async with client(site.app, BASE) as c:
        with caplog.at_level(logging.WARNING, logger="coursehub.lti"):
            response = await launch(c, sim, "u-sam")
    assert response.status_code == 502
    assert "key set URL could not be reached" in response.text
    assert "(keys_unreachable)" in caplog.text
