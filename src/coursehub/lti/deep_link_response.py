"""LTI Deep Linking: the items an instructor picked in coursehub, signed with the tool's
key and posted back to the LMS, which turns each into an activity whose launches carry
`coursehub_notebook` or `coursehub_assignment` custom parameters."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import jwt

from coursehub.lti.keys import ToolKey
from coursehub.lti.launch_validation import LTI
from coursehub.lti.platforms import Platform

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
RETURN_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s'\";,]*)?$")
RESPONSE_SECONDS = 300


class DeepLinkError(Exception):
    """The LMS's request cannot be answered as asked (what it accepts)."""


def settings_of(claims: dict[str, Any]) -> dict[str, Any]:
    found = claims.get(DL + "deep_linking_settings")
    return found if isinstance(found, dict) else {}


def notebook_item(launch_url: str, path: str, title: str) -> dict[str, Any]:
    return {
        "type": "ltiResourceLink",
        "title": title,
        "url": launch_url,
        "custom": {"coursehub_notebook": path},
    }


def assignment_item(launch_url: str, name: str, title: str, max_points: float) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "ltiResourceLink",
        "title": title,
        "url": launch_url,
        "custom": {"coursehub_assignment": name},
    }
    if max_points > 0:
        # The LMS makes the gradebook column with the link; scores land in it.
        item["lineItem"] = {
            "scoreMaximum": max_points,
            "label": title,
            "resourceId": name,
            "tag": "coursehub",
        }
    return item


def check_request(claims: dict[str, Any]) -> dict[str, Any]:
    """The request's settings, or DeepLinkError if coursehub cannot answer it."""
    dl = settings_of(claims)
    url = dl.get("deep_link_return_url")
    if not isinstance(url, str):
        raise DeepLinkError("the LMS did not say where to send the chosen content")
    # It ends up in a form action and the page's CSP: a plain http(s) URL only.
    if not RETURN_URL.match(url):
        raise DeepLinkError("the LMS's return address is not a plain http(s) URL")
    accepted = dl.get("accept_types") or []
    if "ltiResourceLink" not in accepted:
        raise DeepLinkError(
            "the LMS does not accept links to a tool here (accept_types lacks ltiResourceLink)"
        )
    return dl


def response_jwt(
    key: ToolKey, platform: Platform, request_claims: dict[str, Any], items: list[dict]
) -> str:
    """The signed LtiDeepLinkingResponse for `items` (at most one when the LMS accepts
    only one)."""
    dl = check_request(request_claims)
    if dl.get("accept_multiple") is False:
        items = items[:1]
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": platform.client_id,
        "aud": platform.issuer,
        "iat": now,
        "exp": now + RESPONSE_SECONDS,
        "nonce": secrets.token_urlsafe(16),
        LTI + "message_type": "LtiDeepLinkingResponse",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": request_claims.get(LTI + "deployment_id"),
        DL + "content_items": items,
    }
    if "data" in dl:
        claims[DL + "data"] = dl["data"]
    return jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid})
