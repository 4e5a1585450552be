"""LTI 1.3 roles to coursehub course roles.

Only context (membership) roles count: an institution or system role says what
someone is elsewhere in the university, not in this course, so an institution
Administrator alone gets no course role. A principal role listed with one of its own
sub-roles is read as that sub-role (a TA is often sent as Instructor plus
Instructor#TeachingAssistant); then the strongest role wins.
"""

from __future__ import annotations

from collections.abc import Iterable

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
SUB_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership/"
LTI11_ROLE = "urn:lti:role:ims/lis/"  # LTI 1.1 names some platforms still send

STRENGTH = {"student": 1, "ta": 2, "instructor": 3}

# principal context role -> course role (None: known, but no course role here)
PRINCIPAL: dict[str, str | None] = {
    "Instructor": "instructor",
    "Administrator": "instructor",  # the course's administrator, not the university's
    "TeachingAssistant": "ta",  # LTI 1.1's spelling of Instructor#TeachingAssistant
    "ContentDeveloper": "ta",  # writes material: staff pages, not course management
    "Learner": "student",
    "Mentor": None,  # parents and advisors see a learner's work in the LMS, not here
    "Manager": None,
    "Member": None,
    "Officer": None,
}

# sub-roles that differ from their principal's course role
SUB: dict[tuple[str, str], str | None] = {
    ("Instructor", "TeachingAssistant"): "ta",
    ("Instructor", "Grader"): "ta",
    ("Administrator", "Administrator"): "instructor",
}
# other Administrator sub-roles are the LMS's support and IT staff
SUB_DEFAULT: dict[str, str | None] = {"Administrator": None}


def _parse(role: str) -> tuple[str, str | None] | None:
    """(principal, sub-role or None) of a context role; None for any other role."""
    role = role.strip()
    if role.startswith(MEMBERSHIP):
        return role[len(MEMBERSHIP) :], None
    if role.startswith(SUB_ROLE):
        principal, _, sub = role[len(SUB_ROLE) :].partition("#")
        return (principal, sub or None) if principal else None
    if role.startswith(LTI11_ROLE):
        principal, _, sub = role[len(LTI11_ROLE) :].partition("/")
        return (principal, sub or None) if principal else None
    if role and not any(c in role for c in ":/#"):
        return role, None  # the simple names LTI 1.3 allows for context roles
    return None


def _of_sub(principal: str, sub: str) -> str | None:
    if (principal, sub) in SUB:
        return SUB[(principal, sub)]
    if principal in SUB_DEFAULT:
        return SUB_DEFAULT[principal]
    return PRINCIPAL.get(principal)


def course_role(roles: Iterable[str]) -> str | None:
    """ "instructor", "ta", "student", or None when no role maps to one."""
    principals: set[str] = set()
    subs: dict[str, list[str | None]] = {}
    for raw in roles:
        if not isinstance(raw, str):
            continue
        parsed = _parse(raw)
        if parsed is None:
            continue
        principal, sub = parsed
        if sub is None:
            principals.add(principal)
        else:
            subs.setdefault(principal, []).append(_of_sub(principal, sub))
    found: list[str | None] = []
    for principal in principals - subs.keys():
        found.append(PRINCIPAL.get(principal))
    for mapped in subs.values():
        found.extend(mapped)
    known = [r for r in found if r is not None]
    return max(known, key=STRENGTH.__getitem__) if known else None
