"""LTI Names and Role Provisioning Services 2.0: the members of an LMS course, every
page of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coursehub.lti.identities import LmsPerson
from coursehub.lti.platforms import Platform
from coursehub.lti.service_token import LmsCallError, ServiceTokens, next_link

SCOPE_MEMBERSHIPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEMBERSHIP_CONTAINER = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGES = 100
MAX_MEMBERS = 50_000


class NrpsError(LmsCallError):
    """The LMS's member list could not be read (the message says why)."""


@dataclass(frozen=True)
class Member:
    person: LmsPerson
    roles: tuple[str, ...]
    active: bool

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Member | None:
        """A member from one entry of the list; None when it names nobody."""
        user_id = raw.get("user_id")
        if not isinstance(user_id, str) or not user_id.strip():
            return None
        roles = raw.get("roles")
        roles = tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else ()
        # "Active" unless said otherwise (the status is optional)
        active = raw.get("status", "Active") == "Active"
        return cls(LmsPerson.from_claims(raw, subject_key="user_id"), roles, active)


def fetch_members(
    tokens: ServiceTokens, platform: Platform, url: str, max_pages: int = MAX_PAGES
) -> list[Member]:
    """Every member listed on every page (Link rel="next"); NrpsError when a page
    cannot be read or there are more than `max_pages` pages, so a partial list is
    never taken for the whole course."""
    members: list[Member] = []
    page: str | None = url
    for _ in range(max_pages):
        if page is None:
            return members
        response = tokens.call(
            platform,
            [SCOPE_MEMBERSHIPS],
            "GET",
            page,
            accept=MEMBERSHIP_CONTAINER,
            what="reading the LMS course's members",
        )
        try:
            body = response.json()
        except ValueError:
            raise NrpsError("the LMS's member list is not JSON", 502) from None
        listed = body.get("members") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise NrpsError("the LMS's member list has no members array", 502)
        members.extend(m for raw in listed if isinstance(raw, dict) and (m := Member.of(raw)))
        if len(members) > MAX_MEMBERS:
            raise NrpsError(f"the LMS course lists more than {MAX_MEMBERS} members", 502)
        page = next_link(response, url)
    if page is None:
        return members
    raise NrpsError(f"the LMS's member list has more than {max_pages} pages", 502)
