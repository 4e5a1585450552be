"""In-repository links in course checkouts: kept when they stay inside, refused otherwise.

The links copy flotpython/course at 30d6211a1d52fe6663cd231a4b60095f1c2b3e5a (w1/data ->
../data, w3/data -> ../data/, projects/exo-ships/compare.py -> ../../data/compare.py);
the others are what someone with push access to a course repository could try.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coursehub.courses import git
from coursehub.courses.manifest import load_manifest
from coursehub.courses.repo_links import links_beside, resolve_link_text
from coursehub.courses.tracks import resolve_tracks
from tests.helpers.course_formats import nbhosting_course
from tests.helpers.gitrepo import commit_all, run_git

ATTACKS = {
    "shadow": "/etc/shadow",  # absolute
    "w1/sibling": "../../other-course/solutions.py",  # '..' past the top
    "w1/up": "..",  # the top of the repository: inside, kept
    "w1/escape": "up/..",  # through w1/up, then one level above the top
    "hop": "w1/up/../x",  # the same chain, from the top
    "via-absolute": "abs-dir/passwd",  # through a second link that is absolute
    "abs-dir": "/etc",
    "gitcfg": ".git/config",  # the remote URL, maybe with a token
    "loop1": "loop2",
    "loop2": "loop1",
}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    source = nbhosting_course(tmp_path / "source")
    (tmp_path / "other-course").mkdir()
    (tmp_path / "other-course" / "solutions.py").write_text("answer = 42\n")
    for name, target in ATTACKS.items():
        os.symlink(target, source / name)
    commit_all(source, "first")
    result = git.clone(str(source), tmp_path / "copy")
    assert "link shadow left as a plain file: absolute link" in result.output
    return tmp_path / "copy"


def test_links_inside_the_repository_are_kept(checkout: Path) -> None:
    for name in ("w1/data", "w3/data", "projects/exo-ships/compare.py", "w1/up"):
        assert (checkout / name).is_symlink(), name
    assert (checkout / "w1/data/cities.txt").read_text() == "Paris\nLyon\n"
    assert (checkout / "w3/data/cities.txt").read_text() == "Paris\nLyon\n"
    assert "def compare" in (checkout / "projects/exo-ships/compare.py").read_text()


@pytest.mark.parametrize("name", sorted(set(ATTACKS) - {"w1/up"}))
def test_links_leaving_the_repository_stay_plain_files(checkout: Path, name: str) -> None:
    path = checkout / name
    assert not path.is_symlink()
    assert path.read_text() == ATTACKS[name]  # what git writes with core.symlinks=false


def test_a_pull_keeps_links_and_refuses_one_turned_outward(tmp_path: Path, checkout: Path) -> None:
    source = tmp_path / "source"
    (source / "w2" / "data").unlink()
    os.symlink("../../other-course", source / "w2" / "data")
    (source / "w2" / "notes.md").write_text("notes\n")
    commit_all(source, "second")
    result = git.pull(checkout)
    assert result.ok, result.output
    assert "link w2/data left as a plain file: leads outside the repository" in result.output
    assert not (checkout / "w2" / "data").is_symlink()
    assert (checkout / "w1" / "data").is_symlink()
    assert run_git(checkout, "rev-parse", "HEAD") == run_git(source, "rev-parse", "HEAD")


def test_tracks_and_student_links_never_leave_the_checkout(checkout: Path) -> None:
    manifest = load_manifest(checkout, "python")
    listed = {
        nb for t in resolve_tracks(checkout, manifest) for s in t.sections for nb in s.notebooks
    }
    assert "w1/w1-s6-x1-flottants.md" in listed
    beside = dict(
        (name, target) for target, name in links_beside(checkout, "w1/w1-s6-x1-flottants.md")
    )
    real = checkout.resolve()
    assert beside == {"data": real / "data", "media": real / "media", "up": real}
    assert "sibling" not in beside and "escape" not in beside
    top = dict((name, target) for target, name in links_beside(checkout, "intro.ipynb"))
    assert set(top) == set()  # the top's links are all refused ones here


@pytest.mark.parametrize(
    ("link", "targets", "expected"),
    [
        ("w1/data", {"w1/data": "../data"}, "data"),
        ("w1/data", {"w1/data": "../data/"}, "data"),
        ("a/b/c", {"a/b/c": "../../x/./y"}, "x/y"),
        ("a", {"a": "b/c", "b": "d"}, "d/c"),
        ("a", {"a": "b/..", "b": "x/y"}, "x"),  # '..' after a link is from its target
    ],
)
def test_link_resolution_by_text(link: str, targets: dict[str, str], expected: str) -> None:
    assert resolve_link_text(link, targets) == expected


@pytest.mark.parametrize(
    ("targets", "why"),
    [
        ({"a": "/etc"}, "absolute"),
        ({"a": ".."}, "outside"),
        ({"a": "b/../..", "b": "c"}, "outside"),
        ({"a": "b/x", "b": "/tmp"}, "absolute"),
        ({"a": "b", "b": "a"}, "loop"),
        ({"a": ".git/config"}, "hidden"),
        ({"a": "b/config", "b": ".git"}, "hidden"),
    ],
)
def test_link_resolution_refusals(targets: dict[str, str], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        resolve_link_text("a", targets)
