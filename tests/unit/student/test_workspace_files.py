"""What a course server does in its workspace when the service asks (student/workspace):
the same rules as on a host account, run here in-process as the test's own user."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursehub.student.workspace import files


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[str, str]:
    course = tmp_path / "course"
    (course / "w1").mkdir(parents=True)
    (course / "w1" / "a.ipynb").write_text("course")
    (course / "data").mkdir()
    root = tmp_path / "root"
    root.mkdir()
    return str(root), str(course)


def test_copy_keeps_the_students_file_and_links_the_mappings(dirs: tuple[str, str]) -> None:
    root, course = dirs
    assert files.copy_notebook(root, course, "w1/a.ipynb", "w1/a.ipynb", [("data", "data")])
    assert Path(root, "w1", "data").resolve() == Path(course, "data")
    Path(root, "w1", "a.ipynb").write_text("mine")
    assert files.copy_notebook(root, course, "w1/a.ipynb", "w1/a.ipynb", []) is None
    assert Path(root, "w1", "a.ipynb").read_text() == "mine"


def test_reset_numbers_earlier_versions_and_refuses_odd_names(dirs: tuple[str, str]) -> None:
    root, course = dirs
    files.copy_notebook(root, course, "w1/a.ipynb", "w1/a.ipynb", [])
    first = files.reset_notebook(root, course, "w1/a.ipynb", "w1/a.ipynb", "a.mine-1.ipynb")
    second = files.reset_notebook(root, course, "w1/a.ipynb", "w1/a.ipynb", "a.mine-1.ipynb")
    assert (first["kept"], second["kept"]) == ("a.mine-1.ipynb", "a.mine-1-2.ipynb")
    for kept in ("../x", "", ".."):
        with pytest.raises(files.FilesError):
            files.reset_notebook(root, course, "w1/a.ipynb", "w1/a.ipynb", kept)


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "", "a\\b", 7, None])
def test_paths_leaving_the_folder_are_refused(dirs: tuple[str, str], path: object) -> None:
    root, course = dirs
    with pytest.raises(files.FilesError) as refused:
        files.copy_notebook(root, course, "w1/a.ipynb", path, [])
    assert refused.value.status == 400


def test_reads_and_hashes_never_follow_links_and_are_bounded(dirs: tuple[str, str]) -> None:
    root, _ = dirs
    Path(root, "link.ipynb").symlink_to("/etc/passwd")
    Path(root, "big.ipynb").write_bytes(b"x" * 100)
    assert files.hash_files(root, ["link.ipynb", "nothing.ipynb"]) == {
        "link.ipynb": None,
        "nothing.ipynb": None,
    }
    with pytest.raises(files.FilesError) as missing:
        files.read_file(root, "link.ipynb", 1000)
    assert missing.value.status == 404
    with pytest.raises(files.FilesError) as big:
        files.read_file(root, "big.ipynb", 50)
    assert big.value.status == 413
    with pytest.raises(files.FilesError):
        files.hash_files(root, ["a"] * (files.MAX_PATHS + 1))


def test_a_mapping_link_leading_nowhere_is_renewed_and_the_students_own_kept(
    dirs: tuple[str, str],
) -> None:
    # the site's data directory moved: the link made for the old one leads nowhere
    root, course = dirs
    Path(root, "w1").mkdir()
    Path(root, "w1", "data").symlink_to("/nonexistent/old-data-dir/courses/c/repo/data")
    Path(root, "w1", "media").mkdir()  # the student's own folder of that name
    mappings = [("data", "data"), ("data", "media")]
    files.copy_notebook(root, course, "w1/a.ipynb", "w1/a.ipynb", mappings)
    assert Path(root, "w1", "data").resolve() == Path(course, "data")
    assert not Path(root, "w1", "media").is_symlink()
