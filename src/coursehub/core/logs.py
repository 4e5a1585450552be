"""Log formats of coursehub's own processes: readable text, or one JSON object per line.

`site.log_format: json` reaches the service as COURSEHUB_LOG_FORMAT. Each record becomes
`{"time", "level", "logger", "message", ...extra fields}`; an extra field whose name
looks like a credential is replaced, so a careless `extra={"token": ...}` never lands
in a log collector.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

ENV = "COURSEHUB_LOG_FORMAT"
FORMATS = ("text", "json")
TEXT_FORMAT = "[%(levelname).1s %(asctime)s.%(msecs)03d %(name)s] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
SECRET_KEY = re.compile(
    r"token|secret|password|passwd|authorization|cookie|credential|api_key|private", re.I
)
REDACTED = "[secret]"

# What every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_") or key in entry:
                continue
            entry[key] = REDACTED if SECRET_KEY.search(key) else _plain(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {
            str(k): REDACTED if SECRET_KEY.search(str(k)) else _plain(v) for k, v in value.items()
        }
    return str(value)


def make_formatter(fmt: str) -> logging.Formatter:
    """The formatter for `fmt` ("text" or "json"); anything else is an error."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return logging.Formatter(TEXT_FORMAT, DATE_FORMAT)
    raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")


def wrap_line(component: str, line: str) -> str:
    """A line another process printed (the hub, the proxy), as one JSON object: kept
    as it is when it already is one (the service's), wrapped otherwise."""
    if line.startswith("{"):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            entry.setdefault("component", component)
            return json.dumps(entry, ensure_ascii=False)
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": _level_of(line),
        "logger": f"coursehub.{component}",
        "component": component,
        "message": line,
    }
    return json.dumps(entry, ensure_ascii=False)


_TORNADO_LEVEL = re.compile(r"^\[([DIWEC]) ")
_LEVELS = {"D": "DEBUG", "I": "INFO", "W": "WARNING", "E": "ERROR", "C": "CRITICAL"}


def _level_of(line: str) -> str:
    """JupyterHub's lines start with `[I 2024-...`; keep that level."""
    match = _TORNADO_LEVEL.match(line)
    return _LEVELS[match.group(1)] if match else "INFO"
