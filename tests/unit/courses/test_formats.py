"""Course repositories read as they are: nbhosting, Jupyter Book, MyST and Binder settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coursehub.courses.environment_errors import RequirementsError
from coursehub.courses.formats.binder import read_binder
from coursehub.courses.formats.conda import conda_plan, pypi_requirement
from coursehub.courses.manifest import ManifestError, load_manifest
from coursehub.courses.requirements import read_requirements
from coursehub.courses.tracks import resolve_tracks
from tests.helpers.course_formats import (
    QUANTECON_ENVIRONMENT,
    binder_course,
    jupyter_book_course,
    myst,
    nbhosting_course,
    write_files,
)

W1_C1 = "w1/w1-s1-c1-versions-python.md"
W2_C1 = "w2/w2-s2-c1-outils-chaines.md"


def _tracks(repo: Path, name: str = "course") -> list[tuple[str, str, list[tuple[str, list[str]]]]]:
    manifest = load_manifest(repo, name)
    return [
        (t.name, t.title, [(s.title, s.notebooks) for s in t.sections])
        for t in resolve_tracks(repo, manifest)
    ]


# --- nbhosting --------------------------------------------------------------------------


def test_nbhosting_course_reads_tracks_globs_and_static_mappings(tmp_path: Path) -> None:
    repo = nbhosting_course(tmp_path / "flotpython")
    manifest = load_manifest(repo, "python")
    assert _tracks(repo) == [
        (
            "mooc",
            "mooc",
            [
                ("1. prise en mains", [W1_C1, "w1/w1-s6-x1-flottants.md"]),
                ("2. types de base / syntaxe", [W2_C1, "w2/w2-s6-x1-label.md"]),
            ],
        ),
        (
            "exos",
            "exos",
            [
                ("1. prise en mains", ["w1/w1-s6-x1-flottants.md"]),
                ("2. types de base / syntaxe", ["w2/w2-s6-x1-label.md"]),
            ],
        ),
    ]  # fmt: skip
    assert manifest.tracks[0].description == "compléments du MOOC Python"
    # nbhosting: the link beside each notebook is named `source`, pointing at `destination`
    assert [(m.source, m.target) for m in manifest.mappings] == [
        ("data", "data"),
        ("media", "media"),
    ]
    assert manifest.sources == {
        "tracks": ".nbhosting/nbhosting.yaml",
        "mappings": ".nbhosting/nbhosting.yaml",
        "environment": "requirements.txt",
    }
    assert any("builds are not run" in n for n in manifest.notes)
    assert any(n.startswith("myst.yml is not used for tracks") for n in manifest.notes)


def test_nbhosting_filter_retry_and_default_mappings(tmp_path: Path) -> None:
    repo = tmp_path / "c"
    write_files(
        repo,
        {
            "nbhosting/nbhosting.yaml": (
                "tracks-filter: [web]\n"
                "tracks:\n"
                "- {id: web, name: 'course #1: HTML',\n"
                "   sections: [{name: intro, notebooks: ['notebooks/0-intro']}]}\n"
                "- {id: other, name: Other, sections: [{name: x, notebooks: ['*.md']}]}\n"
            ),
            "notebooks/0-intro.md": myst("# Intro"),
            "media/a.png": "png",
        },
    )  # fmt: skip
    manifest = load_manifest(repo, "web")
    # nbhosting retries a glob that finds nothing with '.*' appended
    assert _tracks(repo) == [("web", "course #1: HTML", [("intro", ["notebooks/0-intro.md"])])]
    # default mappings are data and media; only the folders that exist
    assert [(m.source, m.target) for m in manifest.mappings] == [("media", "media")]


def test_course_yaml_wins_key_by_key(tmp_path: Path) -> None:
    repo = nbhosting_course(tmp_path / "flotpython")
    (repo / "course.yaml").write_text(
        "title: Python\ntracks:\n  - name: all\n    sections:\n"
        "      - {title: All, notebooks: ['w2/*.md']}\n"
    )
    manifest = load_manifest(repo, "python")
    assert [t.name for t in manifest.tracks] == ["all"]
    assert manifest.sources["tracks"] == "course.yaml"
    assert manifest.sources["mappings"] == ".nbhosting/nbhosting.yaml"  # not set in course.yaml
    assert any("not used for tracks: course.yaml sets them" in n for n in manifest.notes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tracks: 3\n", "tracks: expected a list of tracks"),
        ("tracks: [3]\n", "tracks[0]: expected a mapping"),
        ("tracks:\n- {id: a, sections: 3}\n", "tracks[0].sections: expected a list"),
        ("static-mappings: [{source: data}]\n", "expected source and destination"),
        ("tracks: [\n", "not valid YAML"),
        ("a: &a [*a, *a]\n", ".nbhosting/nbhosting.yaml"),
        ("tracks:\n- id: a\n  sections: [{name: s, notebooks: ['../etc/*']}]\n", "'..' component"),
    ],
)
def test_broken_nbhosting_yaml_names_the_file(tmp_path: Path, text: str, expected: str) -> None:
    write_files(tmp_path, {".nbhosting/nbhosting.yaml": text, "a.ipynb": "{}"})
    try:
        load_manifest(tmp_path, "c")
    except ManifestError as exc:
        assert ".nbhosting/nbhosting.yaml" in str(exc)
        assert expected in str(exc)
    else:
        assert expected == ".nbhosting/nbhosting.yaml"  # a recursive alias is just data


def test_nbhosting_yaml_linked_outside_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text(
        "tracks: [{id: x, sections: [{name: s, notebooks: ['*']}]}]\n"
    )
    repo = tmp_path / "repo"
    write_files(repo, {"a.ipynb": "{}"})
    (repo / ".nbhosting").mkdir()
    (repo / ".nbhosting" / "nbhosting.yaml").symlink_to(tmp_path / "outside.yaml")
    manifest = load_manifest(repo, "c")
    assert manifest.tracks == [] and "tracks" not in manifest.sources


# --- Jupyter Book and MyST ------------------------------------------------------------


def test_jupyter_book_toc_in_a_folder_keeps_its_order(tmp_path: Path) -> None:
    repo = jupyter_book_course(tmp_path / "qe")
    manifest = load_manifest(repo, "qe")
    assert _tracks(repo, "qe") == [
        (
            "book",
            "A Mini Example",  # the book's title, from _config.yml beside _toc.yml
            [
                (
                    "A Mini Example",
                    [  # the toc's order, not alphabetical; learn_more.md is no notebook
                        "mini_book/docs/index.md",
                        "mini_book/docs/about_py.md",
                        "mini_book/docs/getting_started.md",
                        "mini_book/docs/python_by_example.md",
                    ],
                )
            ],
        )
    ]
    assert manifest.sources["tracks"] == "mini_book/_toc.yml"
    assert manifest.sources["environment"] == "environment.yml"


def test_jupyter_book_parts_and_the_old_list_format(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "_toc.yml": (
                "format: jb-book\nroot: intro\nparts:\n"
                "  - caption: Basics\n    chapters:\n    - file: basics/one\n"
                "      sections:\n      - file: basics/two\n"
                "  - caption: More\n    chapters:\n    - glob: more/*\n    - url: https://example.org\n"
            ),
            "intro.ipynb": "{}",
            "basics/one.ipynb": "{}",
            "basics/two.md": myst("# two"),
            "more/b.ipynb": "{}",
            "more/a.ipynb": "{}",
        },
    )
    assert _tracks(tmp_path, "book") == [
        ("book", "book", [("book", ["intro.ipynb"]),
                          ("Basics", ["basics/one.ipynb", "basics/two.md"]),
                          ("More", ["more/a.ipynb", "more/b.ipynb"])]),
    ]  # fmt: skip
    (tmp_path / "_toc.yml").write_text(
        "# old format\n- file: intro\n- part: Basics\n  chapters:\n  - file: basics/one\n"
    )
    assert _tracks(tmp_path, "book") == [
        ("book", "book", [("book", ["intro.ipynb"]), ("Basics", ["basics/one.ipynb"])])
    ]


def test_myst_toc_with_extends(tmp_path: Path) -> None:
    repo = nbhosting_course(tmp_path / "flotpython")
    (repo / ".nbhosting" / "nbhosting.yaml").unlink()
    assert _tracks(repo) == [
        (
            "book",
            "MOOC Python",
            [
                ("semaine 1", ["w1/w1-s1-c1-versions-python.md", "w1/w1-s6-x1-flottants.md"]),
                ("semaine 2", ["w2/w2-s2-c1-outils-chaines.md"]),
            ],
        )
    ]
    assert load_manifest(repo, "c").sources["tracks"] == "myst.yml"


def test_toc_entries_outside_the_repository_are_left_out(tmp_path: Path) -> None:
    write_files(
        tmp_path / "r",
        {
            "_toc.yml": "root: a\nchapters:\n- file: ../../etc/passwd\n- file: .git/config\n"
            "- glob: /etc/*\n",
            "a.ipynb": "{}",
        },
    )
    manifest = load_manifest(tmp_path / "r", "c")
    assert _tracks(tmp_path / "r") == [("book", "course", [("course", ["a.ipynb"])])]
    assert sum("is left out" in n for n in manifest.notes) == 3


# --- Binder -------------------------------------------------------------------------------


def test_binder_requirements_repository(tmp_path: Path) -> None:
    repo = binder_course(tmp_path / "binder")
    manifest = load_manifest(repo, "b")
    assert manifest.environment.requirements == "requirements.txt"
    assert manifest.notes == ["not used by coursehub: runtime.txt"]


@pytest.mark.parametrize("folder", ["binder", ".binder"])
def test_binder_folder_wins_over_the_top_and_postbuild_is_refused(
    tmp_path: Path, folder: str
) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "numpy\n",
            f"{folder}/requirements.txt": "tabulate\n",
            f"{folder}/postBuild": "#!/bin/bash\njupyter labextension install ipywidgets\n",
            f"{folder}/apt.txt": "graphviz\n",
        },
    )  # fmt: skip
    manifest = load_manifest(tmp_path, "b")
    assert manifest.environment.requirements == f"{folder}/requirements.txt"
    assert manifest.sources["environment"] == f"{folder}/requirements.txt"
    notes = "\n".join(manifest.notes)
    assert f"requirements.txt is ignored: {folder}/ holds the environment settings" in notes
    assert f"{folder}/postBuild is refused" in notes
    assert f"not used by coursehub: {folder}/apt.txt" in notes


def test_environment_yml_comes_before_requirements_txt(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {"binder/environment.yml": QUANTECON_ENVIRONMENT, "binder/requirements.txt": "x\n"},
    )
    found = read_binder(tmp_path)
    assert found is not None and found.value == "binder/environment.yml"
    assert "binder/requirements.txt is ignored beside binder/environment.yml" in found.notes[0]


def test_binder_folder_without_an_environment_file_uses_none(tmp_path: Path) -> None:
    write_files(tmp_path, {"requirements.txt": "numpy\n", "binder/postBuild": "echo\n"})
    assert load_manifest(tmp_path, "b").environment.requirements is None


def test_course_yaml_may_name_an_environment_yml(tmp_path: Path) -> None:
    course_yaml = "environment:\n  requirements: envs/environment.yml\n"
    write_files(
        tmp_path, {"envs/environment.yml": QUANTECON_ENVIRONMENT, "course.yaml": course_yaml}
    )
    manifest = load_manifest(tmp_path, "b")
    assert manifest.environment.requirements == "envs/environment.yml"
    assert manifest.sources == {"environment": "course.yaml"}


# --- conda environment.yml --------------------------------------------------------------


def test_conda_environment_becomes_pip_requirements() -> None:
    plan = conda_plan(QUANTECON_ENVIRONMENT, "environment.yml")
    assert plan.pip == ["quantecon", "jupyter-book"]
    assert plan.conda == ["sphinx", "pandas", "matplotlib"]
    assert plan.skipped == []  # python and pip: every course environment has them


@pytest.mark.parametrize(
    ("conda", "pip"),
    [
        ("numpy", "numpy"),
        ("numpy=1.26", "numpy==1.26.*"),
        ("numpy=1.26.4=py312h1", "numpy==1.26.*".replace("1.26.*", "1.26.4.*")),
        ("numpy==1.26.4", "numpy==1.26.4"),
        ("numpy>=1.22,<2", "numpy>=1.22,<2"),
        ("numpy 1.26 py_0", "numpy==1.26.*"),
        ("conda-forge::ipywidgets>=8", "ipywidgets>=8"),
        ("pytorch=2.1", "torch==2.1.*"),
        ("py-opencv", "opencv-python"),
        ("matplotlib-base", "matplotlib"),
        ("scipy=1.1*", "scipy==1.1.*"),
        ("pandas 1.5|1.6", "pandas"),
        ("python=3.11", None),
        ("nodejs>=18", None),
        ("r-ggplot2", None),
        ("libblas", None),
        ("graphviz", None),
    ],
)
def test_conda_names_and_versions(conda: str, pip: str | None) -> None:
    assert pypi_requirement(conda) == pip


def test_environment_yml_pip_part_is_checked_like_a_requirements_file(tmp_path: Path) -> None:
    env = tmp_path / "environment.yml"
    env.write_text(
        "dependencies:\n  - numpy\n  - pip:\n    - tabulate\n    - --index-url https://evil.example/simple\n"
    )
    with pytest.raises(
        RequirementsError, match=r"environment.yml, pip entry 2: --index-url is not allowed"
    ):
        read_requirements(env, tmp_path)
    env.write_text("dependencies:\n  - numpy=1.26\n  - pip:\n    - -r requirements.txt\n")
    (tmp_path / "requirements.txt").write_text("tabulate\n")
    inputs = read_requirements(env, tmp_path)
    assert inputs.pip_text == "-r requirements.txt\n"
    assert inputs.conda == ["numpy==1.26.*"]
    assert inputs.files == ["environment.yml", "requirements.txt"]
    env.write_text("dependencies: 3\n")
    with pytest.raises(RequirementsError, match="dependencies: expected a list"):
        read_requirements(env, tmp_path)


def test_environment_yml_changes_change_the_digest(tmp_path: Path) -> None:
    env = tmp_path / "environment.yml"
    env.write_text("dependencies: [numpy]\n")
    first = read_requirements(env, tmp_path).digest
    env.write_text("dependencies: [numpy, pandas]\n")
    assert read_requirements(env, tmp_path).digest != first


def test_hidden_binder_folder_is_allowed_only_as_the_first_component(tmp_path: Path) -> None:
    write_files(tmp_path, {".binder/requirements.txt": "x\n", ".git/config": "[remote]\n"})
    os.symlink("../.git/config", tmp_path / ".binder" / "linked.txt")
    manifest = load_manifest(tmp_path, "b")
    assert manifest.environment.requirements == ".binder/requirements.txt"
    (tmp_path / "course.yaml").write_text("environment: {requirements: .binder/linked.txt}\n")
    with pytest.raises(ManifestError, match="hidden file"):
        load_manifest(tmp_path, "b")


def test_course_image_installs_the_conda_packages_one_by_one() -> None:
    from coursehub.courses.image import containerfile

    text = containerfile("c", "C", "3.12", "coursehub-pip.txt", conda=["six>=1.16", "pandas"])
    assert "-r coursehub-pip.txt" in text
    assert "for p in 'six>=1.16' pandas; do" in text


def test_hostile_tables_of_contents_are_bounded(tmp_path: Path) -> None:
    deep = (
        "root: a\nchapters:\n"
        + "".join("  " * i + "- file: a\n" + "  " * i + "  sections:\n" for i in range(60))
        + "  " * 60
        + "- file: a\n"
    )
    write_files(tmp_path, {"_toc.yml": deep, "a.ipynb": "{}"})
    manifest = load_manifest(tmp_path, "c")
    assert any("nested deeper than" in n for n in manifest.notes)
    (tmp_path / "_toc.yml").write_text("root: a\nchapters:\n" + "- file: a\n" * 30_000)
    with pytest.raises(ManifestError, match="larger than"):
        load_manifest(tmp_path, "c")
