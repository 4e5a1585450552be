"""LTI 1.3 role URIs to course roles, as platforms really send them."""

from __future__ import annotations

import pytest

from coursehub.lti.roles import course_role

M = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
SUB = "http://purl.imsglobal.org/vocab/lis/v2/membership/"
INST = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
SYS = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([M + "Learner"], "student"),
        ([M + "Instructor"], "instructor"),
        ([SUB + "Instructor#TeachingAssistant"], "ta"),
        # a TA sent with the principal role too is still a TA
        ([M + "Instructor", SUB + "Instructor#TeachingAssistant"], "ta"),
        ([M + "Instructor", SUB + "Instructor#Grader"], "ta"),
        ([M + "Instructor", SUB + "Instructor#PrimaryInstructor"], "instructor"),
        ([SUB + "Instructor#TeachingAssistant", SUB + "Instructor#Lecturer"], "instructor"),
        ([M + "ContentDeveloper"], "ta"),
        ([M + "Mentor"], None),
        ([SUB + "Mentor#Advisor"], None),
        ([SUB + "Learner#GuestLearner"], "student"),
        # the strongest role wins
        ([M + "Learner", M + "Instructor"], "instructor"),
        ([M + "Learner", SUB + "Instructor#TeachingAssistant"], "ta"),
        ([M + "Mentor", M + "Learner"], "student"),
        # short forms LTI 1.3 allows for context roles, and LTI 1.1 names
        (["Learner"], "student"),
        (["Instructor"], "instructor"),
        (["urn:lti:role:ims/lis/TeachingAssistant"], "ta"),
        (["urn:lti:role:ims/lis/Instructor"], "instructor"),
        (["urn:lti:role:ims/lis/Learner/NonCreditLearner"], "student"),
        # institution and system roles say nothing about this course
        ([INST + "Administrator"], None),
        ([INST + "Administrator", SYS + "Administrator"], None),
        ([INST + "Instructor"], None),
        ([INST + "Student"], None),
        ([INST + "Administrator", M + "Learner"], "student"),
        (["urn:lti:instrole:ims/lis/Administrator"], None),
        # the course's own administrator manages it; the LMS's support staff do not
        ([M + "Administrator"], "instructor"),
        ([M + "Administrator", SUB + "Administrator#Support"], None),
        ([], None),
        (["", "   ", "https://example.org/unknown#Role"], None),
        ([M + "Wizard"], None),
    ],
)
def test_lms_roles_map_to_course_roles(roles: list[str], expected: str | None) -> None:
    assert course_role(roles) == expected


def test_values_that_are_not_strings_are_ignored() -> None:
    assert course_role([None, 3, {"x": 1}, M + "Learner"]) == "student"  # type: ignore[list-item]
