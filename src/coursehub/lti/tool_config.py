"""What an LMS administrator types into their LMS to add coursehub as an LTI 1.3 tool,
and what they copy back from it: pure functions of the site's public URL, so the
command line, the docs and the tests show the same values.

Field labels follow the LMS's own forms (Moodle 4's "Configure a tool manually",
Canvas's LTI developer key JSON) so an admin can match them line by line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SERVICE_PATH = "/services/coursehub/"

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_MEMBERSHIP = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPES = (SCOPE_LINEITEM, SCOPE_RESULT, SCOPE_SCORE, SCOPE_MEMBERSHIP)

# Custom parameters a launch understands (set per link, by deep linking or by hand).
CUSTOM_NOTEBOOK = "coursehub_notebook"
CUSTOM_ASSIGNMENT = "coursehub_assignment"

# Instructure-hosted Canvas: one issuer and one set of endpoints for every school.
CANVAS_CLOUD_ISSUER = "https://canvas.instructure.com"
CANVAS_CLOUD_SSO = "https://sso.canvaslms.com"


@dataclass(frozen=True)
class ToolUrls:
    """The tool's endpoints as an LMS must be told them (exact strings: platforms
    compare redirect URIs character for character)."""

    base: str
    login: str
    launch: str
    jwks: str
    deep_linking: str


@dataclass(frozen=True)
class PlatformUrls:
    """An LMS's own values, as `coursehub lti add-platform` takes them."""

    issuer: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str


def tool_urls(public_url: str) -> ToolUrls:
    """The endpoints under `public_url` (which may end in a path, e.g. behind a proxy
    at https://example.edu/jupyter)."""
    base = public_url.rstrip("/")
    service = base + SERVICE_PATH
    launch = service + "lti/launch"
    return ToolUrls(
        base=base,
        login=service + "lti/login",
        launch=launch,
        jwks=service + "lti/jwks.json",
        deep_linking=launch,  # one redirect URI for launches and content selection
    )


def moodle_platform(moodle_url: str) -> PlatformUrls:
    """Moodle's values: its issuer is the site URL (the "Platform ID" Moodle shows)."""
    site = moodle_url.rstrip("/")
    return PlatformUrls(
        issuer=site,
        auth_login_url=site + "/mod/lti/auth.php",
        auth_token_url=site + "/mod/lti/token.php",
        key_set_url=site + "/mod/lti/certs.php",
    )


def canvas_platform(canvas_url: str | None = None) -> PlatformUrls:
    """Canvas's values: Instructure-hosted Canvas when `canvas_url` is None, else a
    self-hosted Canvas at that URL (whose issuer is that URL unless its
    config/security.yml says otherwise)."""
    if canvas_url is None:
        return PlatformUrls(
            issuer=CANVAS_CLOUD_ISSUER,
            auth_login_url=CANVAS_CLOUD_SSO + "/api/lti/authorize_redirect",
            auth_token_url=CANVAS_CLOUD_SSO + "/login/oauth2/token",
            key_set_url=CANVAS_CLOUD_SSO + "/api/lti/security/jwks",
        )
    site = canvas_url.rstrip("/")
    return PlatformUrls(
        issuer=site,
        auth_login_url=site + "/api/lti/authorize_redirect",
        auth_token_url=site + "/login/oauth2/token",
        key_set_url=site + "/api/lti/security/jwks",
    )


def moodle_settings(public_url: str, site_name: str) -> list[tuple[str, str]]:
    """(field label, value) in the order of Moodle's "Configure a tool manually" form
    (Site administration > Plugins > Activity modules > External tool > Manage tools)."""
    urls = tool_urls(public_url)
    return [
        ("Tool name", site_name),
        ("Tool URL", urls.launch),
        ("Tool description", "Jupyter notebooks, each student in their own workspace"),
        ("LTI version", "LTI 1.3"),
        ("Public key type", "Keyset URL"),
        ("Public keyset", urls.jwks),
        ("Initiate login URL", urls.login),
        ("Redirection URI(s)", urls.launch),
        (
            "Custom parameters",
            f"leave empty (an activity may set {CUSTOM_NOTEBOOK}=PATH or {CUSTOM_ASSIGNMENT}=NAME)",
        ),
        ("Tool configuration usage", "Show in activity chooser and as a preconfigured tool"),
        ("Default launch container", "Embed, without blocks"),
        ("Supports Deep Linking (Content-Item Message)", "ticked"),
        ("Content Selection URL", urls.deep_linking),
        (
            "Services: IMS LTI Assignment and Grade Services",
            "Use this service for grade sync and column management",
        ),
        (
            "Services: IMS LTI Names and Role Provisioning",
            "Use this service to retrieve members' information as per privacy settings",
        ),
        ("Privacy: Share launcher's name with tool", "Always"),
        ("Privacy: Share launcher's email with tool", "Always"),
        ("Privacy: Accept grades from the tool", "Always"),
    ]


def canvas_developer_key(public_url: str, site_name: str) -> dict[str, Any]:
    """The JSON for Canvas's Admin > Developer Keys > + LTI Key > Method: Paste JSON.
    (The key's "Redirect URIs" box is separate: it takes `tool_urls(...).launch`.)"""
    urls = tool_urls(public_url)
    domain = urlsplit(urls.base).netloc
    deep_link = {"message_type": "LtiDeepLinkingRequest", "target_link_uri": urls.deep_linking}
    return {
        "title": site_name,
        "description": "Jupyter notebooks of this course, each student in their own "
        "workspace; assignments graded and sent to the gradebook.",
        "oidc_initiation_url": urls.login,
        "target_link_uri": urls.launch,
        "public_jwk_url": urls.jwks,
        "scopes": list(SCOPES),
        "extensions": [
            {
                "domain": domain,
                "tool_id": "coursehub",
                "platform": "canvas.instructure.com",
                "privacy_level": "public",
                "settings": {
                    "text": site_name,
                    "placements": [
                        {
                            "placement": "course_navigation",
                            "message_type": "LtiResourceLinkRequest",
                            "target_link_uri": urls.launch,
                            "text": site_name,
                        },
                        {"placement": "link_selection", "text": site_name, **deep_link},
                        {"placement": "assignment_selection", "text": site_name, **deep_link},
                    ],
                },
            }
        ],
        # Tool-wide custom fields would send every link to the same place; links get
        # coursehub_notebook / coursehub_assignment from deep linking instead.
        "custom_fields": {},
    }
