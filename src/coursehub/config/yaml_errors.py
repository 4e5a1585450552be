"""Line-numbered problems for any YAML file validated by a pydantic model.

coursehub.yaml (config/loader.py) and course.yaml (courses/manifest.py) report errors
the same way: ``file:LINE: key: value: what is expected``. This module holds the
parts that are not tied to one root model.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from coursehub.config.loader import _is_validator_tag, _locate, _message, _model_in
from coursehub.core.errors import ConfigProblem

# Aliases let a small file expand into billions of nodes ("billion laughs");
# the plain copy handed to pydantic stops long before that.
MAX_NODES = 100_000
# ruamel's scanner slows down quadratically with [[[...]]] depth, long before it
# overflows the stack; no real file nests flow collections this deep.
MAX_FLOW_DEPTH = 50


class TooManyNodes(ValueError):
    pass


def parse_mapping(text: str, name: str) -> tuple[CommentedMap, list[ConfigProblem]]:
    """Parse YAML whose top level must be a mapping; an empty document is an empty one."""
    deep = _too_deep_line(text)
    if deep:
        return CommentedMap(), [ConfigProblem(name, deep, "", None, "nested too deeply")]
    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = ConfigProblem(name, line, "", None, f"not valid YAML: {exc.problem or exc}")
        return CommentedMap(), [problem]
    except RecursionError:  # the parser recurses once per level of [[[...]]]
        return CommentedMap(), [ConfigProblem(name, None, "", None, "nested too deeply")]
    if data is None:
        return CommentedMap(), []
    if not isinstance(data, CommentedMap):
        return CommentedMap(), [ConfigProblem(name, 1, "", None, "expected a mapping of keys")]
    return data, []


def _too_deep_line(text: str) -> int | None:
    # Brackets inside quoted strings count too; harmless at this depth.
    depth, line = 0, 1
    for char in text:
        if char in "[{":
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                return line
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char == "\n":
            line += 1
    return None


def to_plain(node: Any, max_nodes: int = MAX_NODES) -> Any:
    """Plain dicts and lists for pydantic, raising TooManyNodes past `max_nodes`."""
    budget = [max_nodes]

    def walk(item: Any) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise TooManyNodes(f"more than {max_nodes} values (are anchors/aliases looping?)")
        if isinstance(item, dict):
            return {str(k): walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    try:
        return walk(node)
    except RecursionError:
        raise TooManyNodes("nested too deeply") from None


def validation_problems(
    exc: ValidationError, data: CommentedMap, name: str, model: type[BaseModel]
) -> list[ConfigProblem]:
    """One ConfigProblem per pydantic error, located in the YAML `data` it came from."""
    problems = []
    for err in exc.errors():
        loc = [part for part in err["loc"] if not _is_validator_tag(part)]
        key = ".".join(str(p) for p in loc)
        line, value, present = _locate(data, loc)
        if not present:
            # A field parsed out of a scalar (e.g. "data -> data"): show that scalar.
            line, value, present = _scalar_ancestor(data, loc, line)
        if err["type"] == "extra_forbidden":
            message = unknown_key_message(model, loc)
        else:
            message = _message(err, loc)
        problems.append(
            ConfigProblem(name, line, key, value if present else None, message, present)
        )
    return problems


def unknown_key_message(model: type[BaseModel], loc: list[Any]) -> str:
    """ "unknown key 'x' (did you mean 'y'?); allowed here: ..." for a key under `model`."""
    parent: type[BaseModel] | None = model
    for part in loc[:-1]:
        if isinstance(part, int) or parent is None:
            continue  # list index: the item model is already unwrapped below
        field = parent.model_fields.get(str(part))
        parent = _model_in(field.annotation) if field else None
    allowed = sorted(parent.model_fields) if parent else []
    unknown = str(loc[-1])
    text = f"unknown key '{unknown}'"
    hint = difflib.get_close_matches(unknown, allowed, n=1)
    if hint:
        text += f" (did you mean '{hint[0]}'?)"
    if allowed:
        text += "; allowed here: " + ", ".join(allowed)
    return text


def _scalar_ancestor(data: Any, loc: list[Any], line: int | None) -> tuple[int | None, Any, bool]:
    for end in range(len(loc) - 1, 0, -1):
        found_line, node, present = _locate(data, loc[:end])
        if present:
            if isinstance(node, CommentedMap | CommentedSeq):
                break
            return found_line, node, True
    return line, None, False
