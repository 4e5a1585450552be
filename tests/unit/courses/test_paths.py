"""Untrusted paths: nothing outside a course (or a hidden file in it) is ever reachable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coursehub.courses.paths import PathRejected, is_inside, safe_relative_path


@pytest.fixture
def course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    (root / "week1" / "data").mkdir(parents=True)
    (root / "week1" / "data" / "table.csv").write_text("a,b\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("url = https://token@example.org/repo\n")
    (tmp_path / "secret.txt").write_text("answers")
    return root


def _reason(root: Path, requested: str) -> str:
    with pytest.raises(PathRejected) as info:
        safe_relative_path(root, requested)
    return info.value.reason


def test_normal_nested_path_is_accepted_as_real_absolute_path(course: Path) -> None:
    got = safe_relative_path(course, "week1/data/table.csv")
    assert got == (course / "week1" / "data" / "table.csv").resolve()
    assert got.is_absolute() and got.read_text() == "a,b\n"


def test_path_not_yet_existing_inside_root_is_accepted(course: Path) -> None:
    # a student's first visit: the copy does not exist yet
    assert safe_relative_path(course, "week2/new.ipynb") == course.resolve() / "week2/new.ipynb"


@pytest.mark.parametrize(
    ("requested", "reason"),
    [
        ("", "empty path"),
        ("../secret.txt", "'..' component"),
        ("week1/../../secret.txt", "'..' component"),
        ("a/./../b", "'.' component"),
        ("week1/./data", "'.' component"),
        ("/etc/passwd", "absolute path"),
        ("week1\\..\\..\\secret.txt", "contains a backslash"),
        ("week1/table.csv\0.ipynb", "contains a NUL byte"),
        ("week1/a\nb", "contains a control character"),
        ("week1//data", "empty component (double or trailing '/')"),
        ("week1/data/", "empty component (double or trailing '/')"),
        (".git/config", "hidden component '.git'"),
        ("week1/.ipynb_checkpoints/x.ipynb", "hidden component '.ipynb_checkpoints'"),
        ("a/" * 600 + "b", "longer than 1024 characters"),
    ],
)
def test_unsafe_text_is_rejected_with_reason(course: Path, requested: str, reason: str) -> None:
    assert _reason(course, requested) == reason


def test_long_path_message_stays_short(course: Path) -> None:
    with pytest.raises(PathRejected) as info:
        safe_relative_path(course, "x" * 5000)
    assert len(str(info.value)) < 200


def test_symlink_out_of_root_is_rejected(course: Path) -> None:
    os.symlink(course.parent / "secret.txt", course / "week1" / "notes.ipynb")
    os.symlink(course.parent, course / "up")
    assert _reason(course, "week1/notes.ipynb") == "leads outside the allowed directory"
    assert _reason(course, "up/secret.txt") == "leads outside the allowed directory"


def test_symlink_to_hidden_file_inside_root_is_rejected(course: Path) -> None:
    os.symlink(course / ".git" / "config", course / "week1" / "config.ipynb")
    assert _reason(course, "week1/config.ipynb") == "leads to a hidden file"


def test_symlink_loop_is_rejected(course: Path) -> None:
    os.symlink(course / "loop", course / "loop")
    assert _reason(course, "loop/x") == "symlink loop"


def test_symlink_inside_root_resolves_to_its_target(course: Path) -> None:
    os.symlink(course / "week1" / "data", course / "shared")
    got = safe_relative_path(course, "shared/table.csv")
    assert got == (course / "week1" / "data" / "table.csv").resolve()


def test_percent_encoding_is_not_decoded_a_second_time(course: Path) -> None:
    # the web layer decodes once; a literal '%2e%2e' is just an odd file name inside
    got = safe_relative_path(course, "%2e%2e/secret.txt")
    assert got == course.resolve() / "%2e%2e" / "secret.txt"


def test_root_given_through_a_symlink_still_works(course: Path, tmp_path: Path) -> None:
    os.symlink(course, tmp_path / "alias")
    got = safe_relative_path(tmp_path / "alias", "week1/data/table.csv")
    assert got == (course / "week1" / "data" / "table.csv").resolve()


def test_is_inside(course: Path) -> None:
    os.symlink(course.parent / "secret.txt", course / "leak")
    assert is_inside(course, course / "week1" / "data" / "table.csv")
    assert is_inside(course, Path("week1/data"))  # relative: taken from the root
    assert is_inside(course, course)
    assert not is_inside(course, course.parent / "secret.txt")
    assert not is_inside(course, Path("../secret.txt"))
    assert not is_inside(course, course / "leak")
    # a sibling whose name merely starts with the root's name is not inside
    (course.parent / "course-old").mkdir()
    assert not is_inside(course, course.parent / "course-old")
