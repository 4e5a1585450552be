"""Human-friendly sizes and durations used in coursehub.yaml ("2G", "30m")."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", re.IGNORECASE)
_DURATION_FACTORS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(value: object) -> int:
    """Turn 512M, 2G, 1.5GiB or a plain byte count into bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512M or 2G, not a true/false value")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            number, unit, _ = match.groups()
            return int(float(number) * _SIZE_FACTORS[unit.upper()])
    raise ValueError("expected a size such as 512M, 2G or a number of bytes")


def parse_duration(value: object) -> int:
    """Turn 90, "90s", "30m", "2h" or "1d" into seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m or 2h, not a true/false value")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return int(value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            number, unit = match.groups()
            return int(float(number) * _DURATION_FACTORS[(unit or "").lower()])
    raise ValueError("expected a duration such as 30s, 10m, 2h or a number of seconds")


def format_size(n: int) -> str:
    for unit in ("T", "G", "M", "K"):
        factor = _SIZE_FACTORS[unit]
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)


Size = Annotated[int, BeforeValidator(parse_size)]
Duration = Annotated[int, BeforeValidator(parse_duration)]
