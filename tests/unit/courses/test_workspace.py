"""Workspace operations (copy, hash, read, reset), run in demo mode as the current
account; the same scripts run as the student on a real hub (integration tests)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from coursehub.courses.workspace import (
    WorkspaceError,
    copy_notebook,
    demo_student,
    hash_files,
    kept_name,
    read_notebook,
    reset_notebook,
)


@pytest.fixture
def setup(tmp_path: Path):  # noqa: ANN201
    source = tmp_path / "course" / "nb.ipynb"
    source.parent.mkdir()
    source.write_text("course v1")
    student = demo_student(tmp_path / "homes", "alice")
    workspace = student.home / "courses" / "stats"
    return student, workspace, source


def test_copy_never_overwrites_and_hashes_what_it_wrote(setup) -> None:  # noqa: ANN001
    student, workspace, source = setup
    digest = copy_notebook(student, workspace, source, "w1/nb.ipynb")
    assert digest == hashlib.sha256(b"course v1").hexdigest()
    (workspace / "w1" / "nb.ipynb").write_text("mine")
    assert copy_notebook(student, workspace, source, "w1/nb.ipynb") is None
    assert (workspace / "w1" / "nb.ipynb").read_text() == "mine"
    hashes = hash_files(student, workspace, ["w1/nb.ipynb", "w1/missing.ipynb"])
    assert hashes == {"w1/nb.ipynb": hashlib.sha256(b"mine").hexdigest(), "w1/missing.ipynb": None}


def test_reset_keeps_every_earlier_version(setup) -> None:  # noqa: ANN001
    student, workspace, source = setup
    copy_notebook(student, workspace, source, "nb.ipynb")
    (workspace / "nb.ipynb").write_text("attempt 1")
    first = reset_notebook(student, workspace, source, "nb.ipynb", "20261123-100000")
    assert first.kept_as == "nb.mine-20261123-100000.ipynb"
    (workspace / "nb.ipynb").write_text("attempt 2")
    second = reset_notebook(student, workspace, source, "nb.ipynb", "20261123-100000")
    assert second.kept_as == "nb.mine-20261123-100000-2.ipynb"
    assert (workspace / first.kept_as).read_text() == "attempt 1"
    assert (workspace / second.kept_as).read_text() == "attempt 2"
    assert (workspace / "nb.ipynb").read_text() == "course v1"
    # nothing to keep when the student had deleted theirs
    (workspace / "nb.ipynb").unlink()
    assert reset_notebook(student, workspace, source, "nb.ipynb", "x").kept_as is None


def test_reading_refuses_links_special_files_and_huge_files(setup) -> None:  # noqa: ANN001
    student, workspace, source = setup
    copy_notebook(student, workspace, source, "nb.ipynb")
    assert read_notebook(student, workspace, "nb.ipynb") == b"course v1"
    os.symlink("/etc/hostname", workspace / "link.ipynb")
    with pytest.raises(WorkspaceError, match="not in your workspace"):
        read_notebook(student, workspace, "link.ipynb")
    assert hash_files(student, workspace, ["link.ipynb"]) == {"link.ipynb": None}
    os.mkfifo(workspace / "pipe.ipynb")
    assert hash_files(student, workspace, ["pipe.ipynb"]) == {"pipe.ipynb": None}
    with pytest.raises(WorkspaceError, match="larger than"):
        read_notebook(student, workspace, "nb.ipynb", limit=3)


def test_kept_names() -> None:
    assert kept_name("w1/intro.ipynb", "S") == "intro.mine-S.ipynb"
    assert kept_name("lesson.md", "S") == "lesson.mine-S.md"
    assert kept_name("README", "S") == "README.mine-S"


def test_a_mapping_link_leading_nowhere_is_renewed(setup, tmp_path: Path) -> None:  # noqa: ANN001
    # a demo reinstalled elsewhere, or a data directory moved: the old link is dangling
    student, workspace, source = setup
    data = tmp_path / "course" / "data"
    data.mkdir()
    (workspace / "w1").mkdir(parents=True)
    (workspace / "w1" / "data").symlink_to(tmp_path / "gone" / "data")
    (workspace / "w1" / "notes").symlink_to(tmp_path / "course")  # leads somewhere: kept
    copy_notebook(student, workspace, source, "w1/nb.ipynb", [(data, "data"), (data, "notes")])
    assert (workspace / "w1" / "data").resolve() == data
    assert (workspace / "w1" / "notes").resolve() == tmp_path / "course"
