"""Load coursehub.yaml with errors that point at file, line, key and value."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from coursehub.config.models import CoursehubConfig
from coursehub.core.errors import ConfigError, ConfigProblem


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus where it came from; every path in it is absolute."""

    config: CoursehubConfig
    path: Path | None

    @property
    def data_dir(self) -> Path:
        return self.config.site.data_dir


def load_config(path: Path | str) -> LoadedConfig:
    """Read and validate a coursehub.yaml, raising ConfigError listing every problem."""
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    None,
                    "",
                    None,
                    "file not found; create one with `coursehub init`",
                )
            ]
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem(str(path), None, "", None, f"not UTF-8 text ({exc.reason})")]
        ) from None
    return load_config_text(text, source=path)


def load_config_text(text: str, source: Path | None = None) -> LoadedConfig:
    """Validate YAML text; relative paths resolve against the source file's folder."""
    name = str(source) if source else "<config>"
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(
            [ConfigProblem(name, line, "", None, f"not valid YAML: {exc.problem or exc}")]
        ) from None
    if data is None:
        data = CommentedMap()
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(name, 1, "", None, "expected a mapping of sections (site:, auth:, ...)")]
        )
    try:
        config = CoursehubConfig.model_validate(
            _empty_sections_as_defaults(_plain(data), CoursehubConfig)
        )
    except ValidationError as exc:
        raise ConfigError(_problems(exc, data, name)) from None
    base = source.parent if source else Path.cwd()
    return LoadedConfig(config=_absolute_paths(config, base), path=source)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _empty_sections_as_defaults(values: Any, model: type[BaseModel]) -> Any:
    """A section written with every key commented out (`roster:` followed by comments
    only) reads as null in YAML; it means the section's defaults, as if left out."""
    if not isinstance(values, dict):
        return values
    out = dict(values)
    for key, value in values.items():
        field = model.model_fields.get(key)
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out[key] = {} if value is None else _empty_sections_as_defaults(value, annotation)
    return out


def _problems(exc: ValidationError, data: dict[Any, Any], name: str) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors():
        loc = [part for part in err["loc"] if not _is_validator_tag(part)]
        key = ".".join(str(p) for p in loc)
        line, value, present = _locate(data, loc)
        message = _message(err, loc)
        problems.append(
            ConfigProblem(name, line, key, value if present else None, message, present)
        )
    return problems


def _is_validator_tag(part: object) -> bool:
    # pydantic inserts tags like "function-before[parse_size(), int]" for annotated types
    return isinstance(part, str) and ("[" in part or part in {"int", "str", "float"})


def _locate(data: Any, loc: list[Any]) -> tuple[int | None, Any, bool]:
    """Line (1-based) and value of the deepest node of `loc` present in the YAML."""
    node, line = data, None
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            if line is None and isinstance(node, CommentedMap) and node.lc.line is not None:
                line = node.lc.line + 1
            return line, None, False
    return line, node, True


def _message(err: ErrorDetails, loc: list[Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return _unknown_key_message(loc)
    if kind == "missing":
        return "this setting is required"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"expected one of {expected}"
    return msg[0].lower() + msg[1:] if msg else msg


def _unknown_key_message(loc: list[Any]) -> str:
    parent: type[BaseModel] | None = CoursehubConfig
    keyed = False  # the part before was a mapping of names (idle.courses, courses.settings)
    for part in loc[:-1]:
        if keyed:
            keyed = False
            continue
        field = parent.model_fields.get(str(part)) if parent else None
        annotation = field.annotation if field else None
        keyed = getattr(annotation, "__origin__", None) is dict
        parent = _model_in(annotation)
    allowed = sorted(parent.model_fields) if parent else []
    unknown = str(loc[-1])
    hint = difflib.get_close_matches(unknown, allowed, n=1)
    text = f"unknown key '{unknown}'"
    if hint:
        text += f" (did you mean '{hint[0]}'?)"
    if allowed:
        text += "; allowed here: " + ", ".join(allowed)
    return text


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found:
            return found
    return None


def _absolute_paths(config: CoursehubConfig, base: Path) -> CoursehubConfig:
    def resolve(p: Path | None) -> Path | None:
        if p is None:
            return None
        p = p.expanduser()
        return p if p.is_absolute() else (base / p).resolve()

    site = config.site.model_copy(update={"data_dir": resolve(config.site.data_dir)})
    roster = config.roster.model_copy(update={"file": resolve(config.roster.file)})
    local = config.spawn.local.model_copy(
        update={"home_root": resolve(config.spawn.local.home_root)}
    )
    slurm = config.spawn.slurm.model_copy(
        update={
            "conf": resolve(config.spawn.slurm.conf),
            "bin_dir": resolve(config.spawn.slurm.bin_dir),
        }
    )
    spawn = config.spawn.model_copy(update={"local": local, "slurm": slurm})
    auth = config.auth
    if auth.github is not None:
        gh = auth.github.model_copy(
            update={"client_secret_file": resolve(auth.github.client_secret_file)}
        )
        auth = auth.model_copy(update={"github": gh})
    if auth.jwt is not None:
        jwt_files = {
            "secret_file": resolve(auth.jwt.secret_file),
            "public_key_file": resolve(auth.jwt.public_key_file),
        }
        auth = auth.model_copy(update={"jwt": auth.jwt.model_copy(update=jwt_files)})
    remote = config.grading.remote_api.model_copy(
        update={
            "secret_file": resolve(config.grading.remote_api.secret_file),
            "public_key_file": resolve(config.grading.remote_api.public_key_file),
        }
    )
    grading = config.grading.model_copy(update={"remote_api": remote})
    hooks = config.hooks.model_copy(update={"dir": resolve(config.hooks.dir)})
    backup = config.backup.model_copy(update={"dir": resolve(config.backup.dir)})
    return config.model_copy(
        update={
            "hooks": hooks,
            "backup": backup,
            "grading": grading,
            "site": site,
            "roster": roster,
            "spawn": spawn,
            "auth": auth,
            "extra_config_dir": resolve(config.extra_config_dir),
        }
    )
