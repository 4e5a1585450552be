"""Root's walks through folders a student can write never follow a link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from coursehub.core import safe_dirs


def test_missing_folders_are_made_with_their_mode(tmp_path: Path) -> None:
    fd = safe_dirs.make_dirs_below(tmp_path, ["courses", "ds101"], 0o700)
    os.close(fd)
    made = os.lstat(tmp_path / "courses" / "ds101")
    assert stat.S_ISDIR(made.st_mode) and stat.S_IMODE(made.st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to another account needs root")
def test_a_made_folder_goes_to_its_owner_but_an_existing_one_is_left_alone(
    tmp_path: Path,
) -> None:
    (tmp_path / "courses").mkdir(mode=0o755)
    os.close(safe_dirs.make_dirs_below(tmp_path, ["courses", "ds101"], 0o700, (1234, 1234)))
    assert os.lstat(tmp_path / "courses").st_uid == 0
    assert os.lstat(tmp_path / "courses" / "ds101").st_uid == 1234


@pytest.mark.parametrize("where", [0, 1])
def test_a_link_on_the_way_is_refused_and_nothing_is_made_behind_it(
    tmp_path: Path, where: int
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    names = ["courses", "ds101"]
    if where == 1:
        (home / "courses").mkdir()
    (home.joinpath(*names[: where + 1])).symlink_to(elsewhere)
    with pytest.raises(safe_dirs.UnsafePathError, match="symbolic link") as caught:
        safe_dirs.make_dirs_below(home, names, 0o700)
    assert "Remove or rename" in str(caught.value)
    assert list(elsewhere.iterdir()) == []


def test_names_that_climb_or_hold_slashes_are_refused(tmp_path: Path) -> None:
    for bad in ("..", ".", "a/b", ""):
        with pytest.raises(safe_dirs.UnsafePathError, match="not a plain"):
            safe_dirs.make_dirs_below(tmp_path, [bad], 0o700)
    with pytest.raises(safe_dirs.UnsafePathError, match="not inside"):
        safe_dirs.parts_below(tmp_path / "home", tmp_path / "other")


def test_open_below_reaches_a_real_folder_only(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    with safe_dirs.closing_fd(safe_dirs.open_below(tmp_path, ["a", "b"])) as fd:
        assert os.fstat(fd).st_ino == os.lstat(tmp_path / "a" / "b").st_ino
    (tmp_path / "c").symlink_to(tmp_path / "a")
    with pytest.raises(safe_dirs.UnsafePathError):
        safe_dirs.open_below(tmp_path, ["c", "b"])


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_chown_tree_changes_links_themselves_and_nothing_they_point_at(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "file").write_text("x")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("y")
    (tree / "to-dir").symlink_to(outside)
    (tree / "a" / "to-file").symlink_to(outside / "file")
    safe_dirs.chown_tree(tree, 4321, 4321)
    for path in (tree, tree / "a", tree / "a" / "b", tree / "a" / "b" / "f", tree / "to-dir"):
        assert os.lstat(path).st_uid == 4321, path
    assert os.lstat(tree / "a" / "to-file").st_uid == 4321
    for path in (outside, outside / "deep", outside / "file"):
        assert os.lstat(path).st_uid == 0, path


def test_walk_folders_skips_a_folder_reached_through_a_link_swapped_in_on_its_way(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    (outside / "y" / "z").mkdir(parents=True)
    (outside / "y" / "z" / "secret").write_text("x")
    tree = tmp_path / "tree"
    (tree / "x" / "y" / "z").mkdir(parents=True)
    seen = []
    for _fd, names in safe_dirs.walk_folders(tree):
        seen.append(names)
        if names == ["z"]:  # z is listed next: swap a folder above it for a link
            os.rename(tree / "x", tmp_path / "moved")
            (tree / "x").symlink_to(outside)
    assert seen == [["x"], ["y"], ["z"]]  # never ["secret"]


def test_chown_tree_can_clear_every_setuid_and_setgid_bit(tmp_path: Path) -> None:
    top = tmp_path / "work"
    (top / "sub").mkdir(parents=True)
    tool = top / "sub" / "tool"
    tool.write_text("#!/bin/sh\n")
    os.chmod(tool, 0o6755)
    os.chmod(top / "sub", 0o2755)
    kept = tmp_path / "kept"
    kept.write_text("")
    os.chmod(kept, 0o4755)
    (top / "link").symlink_to(kept)
    safe_dirs.chown_tree(top, os.getuid(), os.getgid(), clear_setid=True)
    assert stat.S_IMODE(tool.stat().st_mode) == 0o755
    assert stat.S_IMODE((top / "sub").stat().st_mode) == 0o755
    assert stat.S_IMODE(kept.stat().st_mode) == 0o4755  # outside the tree, behind a link
