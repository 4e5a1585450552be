"""Human views of the configuration: effective YAML, JupyterHub settings, help."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from ruamel.yaml import YAML

from coursehub.config.layout import DataLayout, Ports, python_command
from coursehub.config.loader import LoadedConfig, _model_in
from coursehub.config.machine import effective_config
from coursehub.config.models import CoursehubConfig
from coursehub.config.translate.jupyterhub import HubSecrets, Machine, translate

REDACTED = "<secret>"


def yaml_view(loaded: LoadedConfig) -> str:
    data = _jsonable(effective_config(loaded.config).model_dump(mode="json"))
    out = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.dump(data, out)
    return out.getvalue()


def jupyterhub_view(loaded: LoadedConfig) -> str:
    """The JupyterHub settings coursehub would apply, secrets redacted."""
    config = effective_config(loaded.config)
    layout = DataLayout(config.site.data_dir)
    ports = Ports.read(layout.ports_file) or Ports(hub=0, proxy_api=0, service=0)
    secrets = HubSecrets(REDACTED, REDACTED, REDACTED, REDACTED)
    machine = Machine(python_command(), os.cpu_count() or 1)
    lines = ["# port 0: chosen when `coursehub up` starts"] if ports.hub == 0 else []
    for section, values in translate(config, layout, ports, secrets, machine).items():
        for key, value in values.items():
            lines.append(f"c.{section}.{key} = {value!r}")
    return "\n".join(lines)


def help_all() -> str:
    """Every setting with its type, default and help text."""
    lines: list[str] = []
    _describe(CoursehubConfig, "", lines)
    return "\n".join(lines)


def _describe(model: type[BaseModel], prefix: str, lines: list[str]) -> None:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _model_in(field.annotation)
        if nested is not None and field.description is None:
            lines.append(f"\n[{key}]")
            _describe(nested, key + ".", lines)
            continue
        if field.is_required():
            shown = "required"
        else:
            default = field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                shown = "(section)"
            elif isinstance(default, Path):
                shown = f"default: {str(default)!r}"
            else:
                shown = f"default: {default!r}"
        kind = _type_name(field.annotation)
        for meta in field.metadata:
            func = getattr(getattr(meta, "func", None), "__name__", "")
            kind = {"parse_size": "size", "parse_duration": "duration"}.get(func, kind)
        lines.append(f"{key}  ({kind}, {shown})")
        if field.description:
            lines.append(f"    {field.description}")
        if nested is not None:
            _describe(nested, key + ".", lines)


def _type_name(annotation: Any) -> str:
    args = getattr(annotation, "__args__", ())
    origin = getattr(annotation, "__origin__", None)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if isinstance(annotation, type):
        return "section" if issubclass(annotation, BaseModel) else annotation.__name__
    if args:
        return " | ".join(_type_name(a) for a in args if a is not type(None)) + (
            " | None" if type(None) in args else ""
        )
    return str(annotation).replace("typing.", "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
