"""course.yaml: defaults, a full manifest, and every mistake named with its line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coursehub.core.errors import CoursehubError
from coursehub.courses.manifest import CourseManifest, ManifestError, load_manifest

FULL = """\
title: Data Science 101
description: Numbers and plots.
tracks:
  - name: basics
    title: The basics
    description: Start here.
    sections:
      - title: Week 1
        notebooks: [week1/*.ipynb]
      - title: Week 2
        notebooks:
          - week2/**/*.md
  - name: extra
    sections:
      - title: Bonus
        notebooks: [bonus.ipynb]
mappings:
  - data -> data
  - source: week1/images/
    target: images
environment:
  requirements: env/requirements.txt
  python: "3.12"
staff:
  instructors: [alice]
  tas: [bob, carol.d]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for folder in ("data", "week1/images", "env"):
        (root / folder).mkdir(parents=True)
    (root / "env" / "requirements.txt").write_text("numpy\n")
    (tmp_path / "outside").mkdir()
    return root


def _problems(repo: Path, text: str) -> list[str]:
    (repo / "course.yaml").write_text(text)
    with pytest.raises(ManifestError) as info:
        load_manifest(repo, "ds101")
    assert isinstance(info.value, CoursehubError)
    return [str(p) for p in info.value.problems]


def test_repo_without_manifest_gets_defaults(repo: Path) -> None:
    manifest = load_manifest(repo, "ds101")
    assert manifest.title == "ds101"
    assert manifest.description == ""
    assert manifest.tracks == [] and manifest.mappings == []
    assert manifest.environment.requirements is None
    assert manifest.staff.instructors == [] and manifest.staff.tas == []


def test_empty_manifest_is_defaults_and_finds_requirements_txt(repo: Path) -> None:
    (repo / "requirements.txt").write_text("pandas\n")
    (repo / "course.yaml").write_text("# nothing yet\n")
    manifest = load_manifest(repo, "ds101")
    assert manifest.title == "ds101"
    assert manifest.environment.requirements == "requirements.txt"


def test_requirements_null_opts_out_of_the_default(repo: Path) -> None:
    (repo / "requirements.txt").write_text("pandas\n")
    (repo / "course.yaml").write_text("environment:\n  requirements: null\n")
    assert load_manifest(repo, "ds101").environment.requirements is None


def test_full_manifest(repo: Path) -> None:
    (repo / "course.yaml").write_text(FULL)
    m = load_manifest(repo, "ds101")
    assert m.title == "Data Science 101" and m.description == "Numbers and plots."
    assert [t.name for t in m.tracks] == ["basics", "extra"]
    assert m.tracks[0].title == "The basics" and m.tracks[1].title is None
    assert [s.title for s in m.tracks[0].sections] == ["Week 1", "Week 2"]
    assert m.tracks[0].sections[1].notebooks == ["week2/**/*.md"]
    assert [(x.source, x.target) for x in m.mappings] == [
        ("data", "data"),
        ("week1/images", "images"),
    ]
    assert m.environment.requirements == "env/requirements.txt"
    assert m.environment.python == "3.12"
    assert m.staff.instructors == ["alice"] and m.staff.tas == ["bob", "carol.d"]


def test_every_bad_field_reported_with_its_line(repo: Path) -> None:
    problems = _problems(
        repo,
        "title: ''\n"  # 1
        "tracks:\n"  # 2
        "  - name: Week One\n"  # 3
        "    sections:\n"  # 4
        "      - title: A\n"  # 5
        "        notebooks: [../answers/*.ipynb]\n"  # 6
        "  - name: b\n"  # 7
        "    sections: []\n"  # 8
        "mappings:\n"  # 9
        "  - data => data\n"  # 10
        "environment:\n"  # 11
        "  requirements: missing.txt\n"  # 12
        "  python: 3.10\n"  # 13
        "staff:\n"  # 14
        "  instructors: [Alice]\n"  # 15
        "  tas: bob\n",  # 16
    )
    joined = "\n".join(problems)
    assert len(problems) == 9, joined
    assert "course.yaml:1: title: '': expected a non-empty title" in joined
    assert "course.yaml:3: tracks.0.name: 'Week One': expected 1-64 lower-case" in joined
    assert "course.yaml:6: tracks.0.sections.0.notebooks: '..' component" in joined
    assert "course.yaml:8: tracks.1.sections: list should have at least 1 item" in joined
    assert "course.yaml:10: mappings.0: 'data => data': expected 'source -> target'" in joined
    assert (
        "course.yaml:12: environment.requirements: 'missing.txt': "
        "not found in the course repository" in joined
    )
    assert "course.yaml:13: environment.python: 3.1: write the version in quotes" in joined
    assert "course.yaml:15: staff.instructors: 'Alice' is not a valid username" in joined
    assert "course.yaml:16: staff.tas: 'bob': input should be a valid list" in joined


def test_unknown_keys_get_did_you_mean_at_every_level(repo: Path) -> None:
    problems = _problems(
        repo,
        "titel: X\n"
        "tracks:\n"
        "  - name: a\n"
        "    sections:\n"
        "      - title: A\n"
        "        notebook: ['*.ipynb']\n"
        "staff:\n"
        "  ta: [bob]\n",
    )
    joined = "\n".join(problems)
    assert len(problems) == 4, joined  # 3 unknown keys + the missing 'notebooks'
    assert "course.yaml:1: titel: 'X': unknown key 'titel' (did you mean 'title'?)" in joined
    assert "course.yaml:6: tracks.0.sections.0.notebook:" in joined
    assert "(did you mean 'notebooks'?)" in joined
    assert "course.yaml:5: tracks.0.sections.0.notebooks: this setting is required" in joined
    assert "course.yaml:8: staff.ta: unknown key 'ta' (did you mean 'tas'?)" in joined


def test_mappings_escaping_the_repo_are_rejected(repo: Path) -> None:
    os.symlink(repo.parent / "outside", repo / "shared")
    os.symlink(repo / ".git", repo / "gitlink")
    (repo / ".git").mkdir()
    problems = _problems(
        repo,
        "mappings:\n"
        "  - ../outside -> data\n"
        "  - /etc -> etc\n"
        "  - shared -> shared\n"
        "  - source: data\n"
        "    target: ../../home/bob\n"
        "  - .git -> git\n"
        "  - gitlink -> git\n"
        "  - nothere -> x\n",
    )
    joined = "\n".join(problems)
    assert len(problems) == 7, joined
    assert "course.yaml:2: mappings.0.source: '../outside -> data': '..' component" in joined
    assert "course.yaml:3: mappings.1.source: '/etc -> etc': absolute path" in joined
    assert (
        "course.yaml:4: mappings.2.source: 'shared -> shared': "
        "leads outside the allowed directory" in joined
    )
    assert "course.yaml:6: mappings.3.target: '../../home/bob': '..' component" in joined
    assert "course.yaml:7: mappings.4.source: '.git -> git': hidden component '.git'" in joined
    assert "course.yaml:8: mappings.5.source: 'gitlink -> git': leads to a hidden file" in joined
    assert "course.yaml:9: mappings.6.source: 'nothere -> x': not found in the course" in joined


def test_duplicate_track_names_and_mapping_targets(repo: Path) -> None:
    problems = _problems(
        repo,
        "tracks:\n"
        "  - {name: a, sections: [{title: A, notebooks: ['*.ipynb']}]}\n"
        "  - {name: a, sections: [{title: B, notebooks: ['*.ipynb']}]}\n"
        "mappings: [data -> x, week1/images -> x]\n",
    )
    joined = "\n".join(problems)
    assert "course.yaml:1: tracks: track name 'a' appears more than once" in joined
    assert "course.yaml:4: mappings: mapping target 'x' appears more than once" in joined


def test_manifest_symlinked_out_of_the_repo_is_not_read(repo: Path) -> None:
    secret = repo.parent / "outside" / "shadow"
    secret.write_text("root:$6$secret-hash\n")
    os.symlink(secret, repo / "course.yaml")
    with pytest.raises(ManifestError) as info:
        load_manifest(repo, "ds101")
    assert "leads outside the allowed directory" in str(info.value)
    assert "secret-hash" not in str(info.value)


def test_invalid_yaml_and_non_mapping_are_reported_with_line(repo: Path) -> None:
    assert _problems(repo, "title: a\ntracks: [\n")[0].startswith("course.yaml:3: not valid YAML")
    assert _problems(repo, "- a\n- b\n") == ["course.yaml:1: expected a mapping of keys"]


def test_non_utf8_manifest_is_reported(repo: Path) -> None:
    (repo / "course.yaml").write_bytes(b"title: caf\xe9\n")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(repo, "ds101")


def test_alias_bomb_is_refused_quickly(repo: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 20)]
    problems = _problems(repo, "\n".join(lines) + "\n")
    assert problems == ["course.yaml: more than 100000 values (are anchors/aliases looping?)"]


def test_absurdly_deep_nesting_is_an_error_not_a_crash(repo: Path) -> None:
    nested = "title: ok\ntracks: " + "[" * 100_000 + "]" * 100_000 + "\n"
    assert _problems(repo, nested) == ["course.yaml:2: nested too deeply"]
    block = "".join(f"{' ' * i}k:\n" for i in range(700))
    assert _problems(repo, block) == ["course.yaml: nested too deeply"]


def test_oversized_manifest_is_refused_before_parsing(repo: Path) -> None:
    text = "description: |\n" + "  lorem ipsum dolor sit amet\n" * 20_000
    assert _problems(repo, text) == ["course.yaml: larger than 256000 bytes"]


def test_model_has_help_text_for_every_field() -> None:
    # the help text is the documentation (DESIGN.md convention 1)
    for name, field in CourseManifest.model_fields.items():
        assert field.description, name
