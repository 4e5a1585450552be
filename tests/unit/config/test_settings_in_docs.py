"""Every coursehub.yaml setting the planning docs name exists: an admin who copies
`grading.run_on` from docs/scaling.md gets a setting, not a load error."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from coursehub.config.models import CoursehubConfig

DOCS = Path(__file__).resolve().parents[3] / "docs"
# `servers.limits.memory`, `courses.settings.<course>.slurm`, `events.rate: 0`
NAME = re.compile(r"`([a-z_]+(?:\.(?:[a-z_]+|<[a-z_]+>))+)(?=[:` ])")
FILE_SUFFIXES = {"py", "md", "yaml", "yml", "json", "csv", "txt", "sqlite", "toml"}


def _section(annotation: object) -> type[BaseModel] | None:
    """The settings section an annotation holds, through Optional and dict values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if (found := _section(arg)) is not None:
                return found
    if origin is dict:
        return _section(typing.get_args(annotation)[1])
    return None


def missing(name: str) -> str | None:
    """Why `name` is not a setting, or None when it is one."""
    model: type[BaseModel] | None = CoursehubConfig
    for part in name.split("."):
        if part.startswith("<"):
            continue  # a key of a per-course mapping
        if model is None:
            return f"{name}: nothing below the setting before {part!r}"
        field = model.model_fields.get(part)
        if field is None:
            return f"{name}: {model.__name__} has no {part!r} (it has {sorted(model.model_fields)})"
        model = _section(field.annotation)
    return None


def settings_named(text: str) -> list[str]:
    sections = set(CoursehubConfig.model_fields)
    return sorted(
        {
            name
            for name in NAME.findall(text)
            if name.split(".")[0] in sections and name.rsplit(".", 1)[1] not in FILE_SUFFIXES
        }
    )


@pytest.mark.parametrize("doc", ["scaling.md", "admin.md"])
def test_every_setting_the_doc_names_exists(doc: str) -> None:
    names = settings_named((DOCS / doc).read_text())
    assert names, f"no setting found in {doc}: the pattern no longer matches its style"
    problems = [p for name in names if (p := missing(name)) is not None]
    assert problems == []


def test_a_setting_that_does_not_exist_is_caught() -> None:
    assert missing("spawn.slurm.grading") is not None
    assert missing("grading.run_on") is None
    assert missing("courses.settings.<course>.slurm") is None
    assert settings_named("set `grading.run_on: slurm` and see `grading.py`") == ["grading.run_on"]
