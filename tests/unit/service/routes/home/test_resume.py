"""Which pages the resume page treats as a page of the student's own course server."""

from __future__ import annotations

import pytest

from coursehub.service.routes.home.resume import course_server_target


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/user/alice/ds101/git-pull?repo=x", ("ds101", "/user/alice/ds101/git-pull?repo=x")),
        ("/user/alice/ds101/lab/tree/a.ipynb", ("ds101", "/user/alice/ds101/lab/tree/a.ipynb")),
        ("/user/alice/ds101", ("ds101", "/user/alice/ds101")),
    ],
)
def test_a_page_of_the_students_own_course_server_is_resumed(
    next_url: str, expected: tuple[str, str]
) -> None:
    assert course_server_target("/", "alice", next_url) == expected


@pytest.mark.parametrize(
    "next_url",
    [
        "",
        "/user/bob/ds101/lab",  # another student's server
        "/user/alice/",  # the default server
        "/user/alice/../bob/ds101/lab",
        "/user/alice/%2e%2e/lab",
        "https://evil.example/user/alice/ds101/lab",
        "//evil.example/user/alice/ds101/lab",
        "/user/alice\\ds101/lab",
        "/hub/admin",
    ],
)
def test_anything_else_leads_to_my_courses(next_url: str) -> None:
    assert course_server_target("/", "alice", next_url) is None


def test_the_sites_base_url_is_part_of_the_address() -> None:
    assert course_server_target("/jh/", "alice", "/user/alice/ds101/lab") is None
    assert course_server_target("/jh/", "alice", "/jh/user/alice/ds101/lab") == (
        "ds101",
        "/jh/user/alice/ds101/lab",
    )
