"""Reading the settings files of other systems from a course checkout, defensively.

Anyone who can push to a course repository writes these files: they are read only
inside the checkout (no link out, no .git), bounded in size and YAML nodes, and any
problem is reported with the file's name rather than quoting what a link led to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coursehub.config.yaml_errors import TooManyNodes, parse_mapping, to_plain
from coursehub.core.errors import ConfigProblem, CoursehubError
from coursehub.courses.paths import CONFIG_FOLDERS, PathRejected, safe_relative_path

MAX_SETTINGS_BYTES = 256_000


class FormatError(CoursehubError):
    """A settings file of another system has problems; each names the file (and line)."""

    exit_code = 2

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def problem(file: str, message: str, key: str = "") -> ConfigProblem:
    return ConfigProblem(file, None, key, None, message)


def repo_file(repo: Path, relative: str) -> Path | None:
    """The file `relative` in the checkout, None when it is absent or leads outside."""
    try:
        path = safe_relative_path(repo, relative, CONFIG_FOLDERS)
    except PathRejected:
        return None
    return path if path.is_file() else None


def repo_dir(repo: Path, relative: str) -> Path | None:
    try:
        path = safe_relative_path(repo, relative, CONFIG_FOLDERS)
    except PathRejected:
        return None
    return path if path.is_dir() else None


def read_text(repo: Path, relative: str, limit: int = MAX_SETTINGS_BYTES) -> str:
    path = repo_file(repo, relative)
    if path is None:
        raise FormatError([problem(relative, "not a regular file inside the repository")])
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FormatError([problem(relative, f"larger than {limit} bytes")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError([problem(relative, f"not UTF-8 text ({exc.reason})")]) from None


def read_yaml_mapping(repo: Path, relative: str) -> dict[str, Any]:
    """The plain data of a YAML file whose top level is a mapping."""
    data, problems = parse_mapping(read_text(repo, relative), relative)
    if problems:
        raise FormatError(problems)
    try:
        plain = to_plain(data)
    except TooManyNodes as exc:
        raise FormatError([problem(relative, str(exc))]) from None
    except RecursionError:
        raise FormatError([problem(relative, "nested too deeply")]) from None
    return plain if isinstance(plain, dict) else {}


def read_yaml_any(repo: Path, relative: str) -> Any:
    """Plain data of a YAML file whose top level may also be a list (old Jupyter Book)."""
    text = read_text(repo, relative)
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
    if first.startswith("- ") or first == "-":
        data, problems = parse_mapping(f"items:\n{_indent(text)}", relative)
        if problems:
            raise FormatError(problems)
        try:
            return to_plain(data).get("items")
        except TooManyNodes as exc:
            raise FormatError([problem(relative, str(exc))]) from None
        except RecursionError:
            raise FormatError([problem(relative, "nested too deeply")]) from None
    return read_yaml_mapping(repo, relative)


def _indent(text: str) -> str:
    return "".join("  " + line + "\n" for line in text.splitlines())


def expect(value: Any, kind: type | tuple[type, ...], file: str, key: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise FormatError([problem(file, f"expected {what}", key)])
    return value
