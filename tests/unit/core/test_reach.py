"""Which folders on the way to a path keep other accounts out (core/reach.py), and what a
failed venv step of a course build is blamed on."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from coursehub.core.reach import closed_folders, unreachable_message
from coursehub.courses.environment import _venv_failure


def test_a_closed_folder_on_the_way_is_named_from_the_top(tmp_path: Path) -> None:
    top = tmp_path / "home"
    inner = top / "clone" / "demo"
    inner.mkdir(parents=True)
    top.chmod(0o700)
    (top / "clone").chmod(0o750)
    found = closed_folders(inner / "coursehub-data")  # not made yet: skipped
    assert found[-2:] == [top, top / "clone"]
    top.chmod(0o711)
    (top / "clone").chmod(0o755)
    assert top not in closed_folders(inner) and top / "clone" not in closed_folders(inner)


def test_links_are_judged_by_the_folders_they_lead_through(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    (closed / "data").mkdir(parents=True)
    closed.chmod(0o700)
    link = tmp_path / "open-link"
    link.symlink_to(closed / "data")
    assert closed in closed_folders(link)


def test_the_message_names_the_folders_and_both_fixes() -> None:
    text = unreachable_message(
        "the data directory /root/c/data", [Path("/root"), Path("/root/c")], "student accounts"
    )
    assert text.startswith("the data directory /root/c/data is not reachable by student accounts")
    assert "/root /root/c are closed to other accounts" in text
    assert "site.data_dir" in text and text.endswith("chmod o+x /root /root/c")


def test_a_failed_venv_blames_python3_venv_only_without_ensurepip(tmp_path: Path) -> None:
    base, generation = Path("/usr/bin/python3.11"), tmp_path / "env.0123456789ab"
    no_ensurepip = deque(["The virtual environment was not created successfully because "
                          "ensurepip is not available."])  # fmt: skip
    assert "python3-venv" in _venv_failure(base, generation, "builder", no_ensurepip)
    denied = deque(["Error: [Errno 13] Permission denied: '/root/c700'"])
    message = _venv_failure(base, generation, "builder", denied)
    assert "python3-venv" not in message
    assert "permission denied on /root/c700" in message and "builder" in message
    assert str(tmp_path) in message
