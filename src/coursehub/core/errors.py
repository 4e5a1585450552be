"""Typed exceptions raised by library code; only the CLI turns them into exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class CoursehubError(Exception):
    """Base class: the message says what went wrong and how to fix it."""

    exit_code = 1


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    key: str
    value: Any
    message: str
    value_present: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        shown = (
            f" {self.value!r}:"
            if self.value_present and not isinstance(self.value, dict | list)
            else ""
        )
        return f"{where}:{key}{shown} {self.message}"


class ConfigError(CoursehubError):
    exit_code = 2

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class RosterProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class RosterError(CoursehubError):
    """A roster had bad lines; nothing was applied."""

    exit_code = 2

    def __init__(self, problems: list[RosterProblem]):
        self.problems = problems
        count = len(problems)
        head = f"{count} bad line{'s' if count != 1 else ''} in roster; nothing was imported"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in problems))


class AccountError(CoursehubError):
    """Adding, changing or removing an account failed."""


class HubNotRunning(CoursehubError):
    """An operation needs the running hub and none answered."""


class SetupError(CoursehubError):
    """The machine lacks something coursehub needs (the message says how to get it)."""
