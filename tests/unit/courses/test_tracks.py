"""Tracks: globs expand to the notebooks a student can open, and nothing else."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from coursehub.courses.manifest import CourseManifest, load_manifest
from coursehub.courses.tracks import Section, Track, all_notebooks, is_notebook, resolve_tracks

IPYNB = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
MYST_MD = """\
---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  name: python3
---
# Title
"""
JUPYTEXT_MD = """\
---
jupyter:
  jupytext:
    text_representation:
      extension: .md
  kernelspec:
    name: python3
---
Some text
"""
PERCENT_PY = """\
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     name: python3
# ---

# %%
print(1)
"""
PLAIN_MD = "---\ntitle: Syllabus\n---\n# Read me\n"
PLAIN_PY = "# helpers\n# %%\nimport os\n"
LIGHT_PY = "# ---\n# jupyter:\n#   kernelspec:\n#     name: python3\n# ---\n\nprint(1)\n"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    _write(
        root,
        {
            "intro.ipynb": IPYNB,
            "README.md": PLAIN_MD,
            "week1/a.ipynb": IPYNB,
            "week1/b.md": MYST_MD,
            "week1/helpers.py": PLAIN_PY,
            "week1/data.csv": "x\n",
            "week2/lab/c.py": PERCENT_PY,
            "week2/lab/d.md": JUPYTEXT_MD,
            "week2/notes.md": PLAIN_MD,
            ".git/stash.ipynb": IPYNB,
            "week1/.ipynb_checkpoints/a-checkpoint.ipynb": IPYNB,
            "week1/.hidden.ipynb": IPYNB,
        },
    )
    _write(tmp_path, {"outside/answers.ipynb": IPYNB})
    return root


def _manifest(tracks: list[dict]) -> CourseManifest:
    return CourseManifest.model_validate({"title": "DS", "tracks": tracks})


def test_jupytext_and_myst_notebooks_recognised_plain_text_not(repo: Path) -> None:
    assert is_notebook(repo / "intro.ipynb")
    assert is_notebook(repo / "week1/b.md")  # MyST
    assert is_notebook(repo / "week2/lab/d.md")  # Jupytext markdown
    assert is_notebook(repo / "week2/lab/c.py")  # percent format
    assert not is_notebook(repo / "README.md")  # front matter without kernelspec
    assert not is_notebook(repo / "week1/helpers.py")  # '# %%' but no header
    assert not is_notebook(repo / "week1/data.csv")
    assert not is_notebook(repo / "week1")  # a directory


def test_light_format_py_and_unclosed_header_are_not_notebooks(tmp_path: Path) -> None:
    _write(tmp_path, {"light.py": LIGHT_PY, "open.md": "---\nkernelspec:\n" + "x: 1\n" * 2000})
    assert not is_notebook(tmp_path / "light.py")
    assert not is_notebook(tmp_path / "open.md")


def test_header_after_shebang_and_bom_is_found(tmp_path: Path) -> None:
    _write(tmp_path, {"s.py": "#!/usr/bin/env python\n" + PERCENT_PY, "b.md": "\ufeff" + MYST_MD})
    assert is_notebook(tmp_path / "s.py")
    assert is_notebook(tmp_path / "b.md")


def test_tracks_from_globs_sorted_deduplicated_notebooks_only(repo: Path) -> None:
    manifest = _manifest(
        [
            {
                "name": "main",
                "title": "Main",
                "description": "Start here",
                "sections": [
                    {"title": "One", "notebooks": ["week1/*", "week1/a.ipynb"]},
                    {"title": "Two", "notebooks": ["week2/**/*", "*.md"]},
                ],
            },
            {"name": "bonus", "sections": [{"title": "B", "notebooks": ["*.ipynb", "nope/*"]}]},
        ]
    )
    tracks = resolve_tracks(repo, manifest)
    assert tracks == [
        Track(
            "main",
            "Main",
            [
                Section("One", ["week1/a.ipynb", "week1/b.md"]),
                Section("Two", ["week2/lab/c.py", "week2/lab/d.md"], unmatched=["*.md"]),
            ],
            "Start here",
        ),
        Track("bonus", "bonus", [Section("B", ["intro.ipynb"], unmatched=["nope/*"])]),
    ]


def test_hidden_dirs_and_files_are_never_listed(repo: Path) -> None:
    manifest = _manifest([{"name": "all", "sections": [{"title": "All", "notebooks": ["**"]}]}])
    listed = all_notebooks(repo, manifest)
    assert listed == [
        "intro.ipynb",
        "week1/a.ipynb",
        "week1/b.md",
        "week2/lab/c.py",
        "week2/lab/d.md",
    ]


def test_symlinks_out_of_the_repo_are_not_listed(repo: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path / "outside/answers.ipynb", repo / "week1/answers.ipynb")
    os.symlink(tmp_path / "outside", repo / "week3")  # a directory link is never entered
    os.symlink(repo / ".git/stash.ipynb", repo / "week1/stash.ipynb")  # into a hidden dir
    os.symlink(repo / "week1/a.ipynb", repo / "week1/again.ipynb")  # inside: fine
    manifest = _manifest([{"name": "t", "sections": [{"title": "S", "notebooks": ["**/*"]}]}])
    listed = all_notebooks(repo, manifest)
    assert "week1/answers.ipynb" not in listed
    assert not any(nb.startswith("week3/") for nb in listed)
    assert "week1/stash.ipynb" not in listed
    assert "week1/again.ipynb" in listed


def test_default_track_has_one_section_per_folder(repo: Path) -> None:
    (repo / "course.yaml").write_text("title: Data Science\n")
    manifest = load_manifest(repo, "ds")
    assert resolve_tracks(repo, manifest) == [
        Track(
            "default",
            "Data Science",
            [
                Section("Data Science", ["intro.ipynb"]),
                Section("week1", ["week1/a.ipynb", "week1/b.md"]),
                Section("week2/lab", ["week2/lab/c.py", "week2/lab/d.md"]),
            ],
        )
    ]


def test_default_track_without_root_notebooks_starts_with_folders(tmp_path: Path) -> None:
    _write(tmp_path, {"b/x.ipynb": IPYNB, "a/y.ipynb": IPYNB, "a/z/w.ipynb": IPYNB})
    (track,) = resolve_tracks(tmp_path, CourseManifest(title="C"))
    assert [s.title for s in track.sections] == ["a", "a/z", "b"]


def test_empty_or_missing_repo_gives_an_empty_default_track(tmp_path: Path) -> None:
    (track,) = resolve_tracks(tmp_path / "missing", CourseManifest(title="C"))
    assert track.sections == []
