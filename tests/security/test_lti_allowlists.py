"""An empty allow-list means nobody: an LMS platform registered without any deployment
id accepts no launch (oauthenticator CVE-2020-26250, dockerspawner CVE-2023-48311).

A deployment is one installation of the tool inside the LMS; anyone who can add a tool
to their own course space (in Canvas, any teacher; in a shared Moodle, any course
creator) makes a new one with the same issuer and client id. The launches below are
real LTI 1.3 launches signed by a platform simulator's own key, against a real hub.
The launch is an instructor's: accepted, it would make a course on the site.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.lti_platform import INSTRUCTOR, PlatformSimulator
from tests.helpers.signin_flows import lti_launch, whoami

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture(scope="module")
def sim() -> Iterator[PlatformSimulator]:
    with PlatformSimulator(deployment_id="rogue-deployment-7") as platform:
        platform.add_member(
            "u-eve", name="Eve", given_name="Eve", family_name="E",
            email="eve@uni.example", roles=[INSTRUCTOR],
        )  # fmt: skip
        yield platform


@pytest.fixture(scope="module")
def hub(sim: PlatformSimulator, start_hub: Callable[..., hubproc.RunningHub]) -> hubproc.RunningHub:
    site = start_hub(
        "lti-allowlists",
        users={"admin1": "admin1-pass-123"},
        roles={"admin1": "admin"},
        extra_yaml=(
            "auth:\n  methods: [local, lti]\n"
            "lti:\n  roster_sync: 0\n  platforms:\n"
            f"    - name: sim\n      issuer: {sim.issuer}\n      client_id: {sim.client_id}\n"
            "      deployment_ids: []\n"
            f"      auth_login_url: {sim.auth_login_url}\n"
            f"      auth_token_url: {sim.auth_token_url}\n"
            f"      key_set_url: {sim.key_set_url}\n"
        ),
    )
    sim.tool_login_url = f"{site.url}/services/coursehub/lti/login"
    sim.tool_launch_url = f"{site.url}/services/coursehub/lti/launch"
    return site


def test_a_platform_without_deployment_ids_accepts_no_launch(
    hub: hubproc.RunningHub, sim: PlatformSimulator
) -> None:
    with httpx.Client(base_url=hub.url, timeout=60, follow_redirects=False) as client:
        answer = lti_launch(client, sim, "u-eve")
        if answer.status_code == 303:
            client.get(answer.headers["location"])
        me = whoami(client)
    assert answer.status_code == 403, answer.text[:500]
    assert "no deployment of sim is registered" in answer.text
    assert me is None
    courses = hub.cli("course", "list")
    assert "phys101" not in courses.stdout.lower(), courses.stdout
    assert "LTI launch refused (unknown_deployment)" in hub.log.read_text(errors="replace")
