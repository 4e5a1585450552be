"""The Deep Linking answer coursehub signs for an LMS: what a platform checks in it
(signature and key id, iss/aud, lifetime, nonce, message type, version, deployment,
the request's opaque data), the content items, and what the request allows."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from coursehub.lti.deep_link_response import (
    DeepLinkError,
    assignment_item,
    check_request,
    notebook_item,
    response_jwt,
)
from coursehub.lti.keys import ToolKey, ensure_tool_key
from coursehub.lti.platforms import Platform

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
LAUNCH_URL = "https://hub.example.org/services/coursehub/lti/launch"
PLATFORM = Platform(
    id=1,
    name="moodle",
    issuer="https://lms.example.org",
    client_id="tool-client-42",
    auth_login_url="https://lms.example.org/auth",
    auth_token_url="https://lms.example.org/token",
    key_set_url="https://lms.example.org/jwks",
)


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> ToolKey:
    return ensure_tool_key(tmp_path_factory.mktemp("tool") / "secrets" / "lti_tool_key.pem")


def request_claims(**settings: Any) -> dict[str, Any]:
    dl = {
        "deep_link_return_url": "https://lms.example.org/dl/return?course=7",
        "accept_types": ["link", "ltiResourceLink"],
        "accept_presentation_document_targets": ["iframe", "window"],
        "accept_multiple": True,
        "data": "opaque-csrf-token-from-the-lms",
        **settings,
    }
    return {
        "iss": PLATFORM.issuer,
        "aud": PLATFORM.client_id,
        "sub": "u-ines",
        LTI + "message_type": "LtiDeepLinkingRequest",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": "deployment-3",
        DL + "deep_linking_settings": {k: v for k, v in dl.items() if v is not None},
    }


def decode(token: str, key: ToolKey) -> dict[str, Any]:
    """What the platform does: verify with the tool's public key, as iss=client_id,
    aud=its own issuer."""
    return jwt.decode(
        token,
        key.public,
        algorithms=["RS256"],
        audience=PLATFORM.issuer,
        issuer=PLATFORM.client_id,
        options={"require": ["iss", "aud", "iat", "exp", "nonce"]},
    )


def items() -> list[dict[str, Any]]:
    return [
        notebook_item(LAUNCH_URL, "week1/intro.ipynb", "Introduction"),
        assignment_item(LAUNCH_URL, "ps1", "Problem set 1", 7.5),
    ]


def test_the_answer_carries_every_claim_a_platform_checks(key: ToolKey) -> None:
    before = int(time.time())
    token = response_jwt(key, PLATFORM, request_claims(), items())
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == key.kid
    claims = decode(token, key)
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == "deployment-3"
    assert claims[DL + "data"] == "opaque-csrf-token-from-the-lms"
    assert before <= claims["iat"] <= int(time.time())
    assert 0 < claims["exp"] - claims["iat"] <= 600
    assert isinstance(claims["nonce"], str) and len(claims["nonce"]) >= 16
    assert claims[DL + "content_items"] == items()


def test_each_answer_has_its_own_nonce(key: ToolKey) -> None:
    first = decode(response_jwt(key, PLATFORM, request_claims(), items()), key)
    second = decode(response_jwt(key, PLATFORM, request_claims(), items()), key)
    assert first["nonce"] != second["nonce"]


def test_content_items_are_resource_links_to_the_launch_url() -> None:
    notebook, assignment = items()
    assert notebook == {
        "type": "ltiResourceLink",
        "title": "Introduction",
        "url": LAUNCH_URL,
        "custom": {"coursehub_notebook": "week1/intro.ipynb"},
    }
    assert assignment["type"] == "ltiResourceLink" and assignment["url"] == LAUNCH_URL
    assert assignment["custom"] == {"coursehub_assignment": "ps1"}
    assert assignment["lineItem"] == {
        "scoreMaximum": 7.5,
        "label": "Problem set 1",
        "resourceId": "ps1",
        "tag": "coursehub",
    }


def test_no_data_in_the_request_means_none_in_the_answer(key: ToolKey) -> None:
    claims = decode(response_jwt(key, PLATFORM, request_claims(data=None), items()), key)
    assert DL + "data" not in claims


def test_a_platform_that_accepts_one_item_gets_one(key: ToolKey) -> None:
    claims = decode(
        response_jwt(key, PLATFORM, request_claims(accept_multiple=False), items()), key
    )
    assert claims[DL + "content_items"] == items()[:1]


def test_a_platform_that_does_not_accept_tool_links_is_told_why(key: ToolKey) -> None:
    refused = request_claims(accept_types=["link", "file", "html"])
    with pytest.raises(DeepLinkError, match="ltiResourceLink"):
        check_request(refused)
    with pytest.raises(DeepLinkError, match="ltiResourceLink"):
        response_jwt(key, PLATFORM, refused, items())


def test_a_request_without_a_return_url_cannot_be_answered(key: ToolKey) -> None:
    with pytest.raises(DeepLinkError, match="where to send"):
        response_jwt(key, PLATFORM, request_claims(deep_link_return_url=None), items())


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "https://lms.example.org/return; script-src *",
        'https://lms.example.org/" onfocus=x',
        "data:text/html,hi",
        "//lms.example.org/return",
    ],
)
def test_a_return_url_that_is_not_plain_http_is_refused(key: ToolKey, url: str) -> None:
    with pytest.raises(DeepLinkError, match="plain http"):
        response_jwt(key, PLATFORM, request_claims(deep_link_return_url=url), items())
