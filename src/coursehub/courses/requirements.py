"""Reading a course's requirements file: what it installs, and what coursehub refuses.

pip would follow a requirements file anywhere (other indexes, editable installs, local
paths outside the course, environment variables from the hub); the checks here keep a
course's environment to public packages and the course's own files, and name the line
of any refused option. The digest of every file read decides when to rebuild.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from coursehub.courses.environment_errors import RequirementsError
from coursehub.courses.formats.conda import conda_plan
from coursehub.courses.formats.reading import FormatError
from coursehub.courses.paths import is_inside

MAX_REQUIREMENTS_BYTES = 1_000_000
MAX_INCLUDE_DEPTH = 10
CONDA_SUFFIXES = (".yml", ".yaml")  # a conda environment file, read by formats.conda


@dataclass(frozen=True)
class Requirement:
    where: str  # "requirements.txt:3"
    name: str | None  # canonical project name when the line names one


@dataclass
class RequirementInputs:
    digest: str
    requirements: list[Requirement]
    # what pip reads, relative to the course repository: requirement files and the
    # local packages they name (a course image copies these)
    files: list[str] = field(default_factory=list)
    # A conda environment.yml: pip reads `pip_text` instead of the file; `conda` are its
    # conda packages as pip requirements (tried one by one when they fail together),
    # `skipped` those with no Python package on PyPI.
    pip_text: str | None = None
    conda: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# --- requirements files ---------------------------------------------------------------

_SOURCE_REASON = (
    "package sources come from the hub's pip configuration (e.g. /etc/pip.conf, set by "
    "an admin), not from course files: a typo here must not make the hub install from "
    "an arbitrary index"
)
_EDITABLE_REASON = (
    "editable installs are not allowed: the environment must not depend on a checkout "
    "that changes under it; list the package or its path without -e"
)
_REFUSED = dict.fromkeys(["-e", "--editable"], _EDITABLE_REASON) | dict.fromkeys(
    [
        "-i",
        "--index-url",
        "--extra-index-url",
        "--trusted-host",
        "-f",
        "--find-links",
        "--no-index",
    ],
    _SOURCE_REASON,
)
_WITH_VALUE = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "--hash",
    "--only-binary",
    "--no-binary",
}
_FLAGS = {"--pre", "--prefer-binary", "--require-hashes"}
_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{[A-Za-z0-9_]+\}")  # pip would expand these from the hub's env
PROJECT_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with continuations joined and comments dropped."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending.append(raw[:-1])
            continue
        line = _COMMENT.sub("", "".join([*pending, raw])).strip()
        pending = []
        if line:
            yield start, line
    if pending:
        line = _COMMENT.sub("", "".join(pending)).strip()
        if line:
            yield start, line


def _split_options(line: str) -> tuple[str, list[str]]:
    # As pip does: the requirement is everything before the first token starting "-".
    tokens = line.split(" ")
    for i, token in enumerate(tokens):
        if token.startswith("-"):
            try:
                return " ".join(tokens[:i]).strip(), shlex.split(" ".join(tokens[i:]))
            except ValueError as exc:  # unbalanced quotes
                raise _Refused(f"cannot read the options: {exc}") from None
    return line, []


def _options(tokens: list[str]) -> Iterator[tuple[str, str | None]]:
    """(option, value) pairs; refused and unknown options are yielded with value None."""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith("--"):
            name, eq, value = token.partition("=")
        elif token.startswith("-") and len(token) > 1:
            name, value, eq = token[:2], token[2:], token[2:]
        else:
            raise _Refused(f"unexpected text {token!r} after an option")
        if name in _WITH_VALUE and not eq:
            if i >= len(tokens):
                raise _Refused(f"{name} needs a value")
            value = tokens[i]
            i += 1
        yield name, value if (name in _WITH_VALUE or eq) else None


class _Refused(Exception):
    pass


def _check_option(name: str) -> None:
    if name in _REFUSED:
        raise _Refused(f"{name} is not allowed: {_REFUSED[name]}")
    if name not in _WITH_VALUE and name not in _FLAGS:
        allowed = ", ".join(sorted(_WITH_VALUE | _FLAGS))
        raise _Refused(f"{name} is not allowed in a course requirements file (allowed: {allowed})")


_DIRECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*@\s*(\S+)")
_FILE_URL = re.compile(r"^(?:[A-Za-z0-9.-]+\+)?file:(.*)$")  # file:, git+file:, ...
_ARCHIVE = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def _path_in_url(url: str) -> str:
    """The path of a file: URL (relative or absolute), without host, fragment or @rev."""
    after = _FILE_URL.match(url)[1]  # type: ignore[index]
    if after.startswith("//"):
        after = after[2:]
        after = after[after.find("/") :] if "/" in after else ""
    return after.split("#", 1)[0].split("@", 1)[0]


def _local_target(spec: str) -> str | None:
    """The local path a requirement refers to, or None for a name or a remote URL."""
    spec = spec.split(";", 1)[0].strip()
    direct = _DIRECT.match(spec)
    url = direct[1] if direct else spec
    if _FILE_URL.match(url):
        return _path_in_url(url)
    if direct or _URL.match(url):
        return None  # a remote URL is explicit, not a mistyped index: pip may fetch it
    url = re.sub(r"\[[^\]]*\]$", "", url)  # ./pkg[extra]
    if "/" in url or url.startswith(".") or url.endswith(_ARCHIVE):
        return url
    return None


def _inside(root: Path, base: Path, target: str, shown: str) -> Path:
    path = base / target  # an absolute target replaces base
    if not is_inside(root, path):
        raise _Refused(f"{shown!r} points outside the course repository")
    return path


def read_requirements(requirements: Path | None, root: Path | None) -> RequirementInputs:
    """Validate the requirements file (and its includes) and hash everything pip reads."""
    digest = hashlib.sha256()
    found: list[Requirement] = []
    if requirements is None:
        return RequirementInputs(digest.hexdigest(), found)
    requirements = Path(requirements).absolute()
    root = Path(root).absolute() if root is not None else requirements.parent
    seen: set[Path] = set()
    files: list[str] = []
    conda: dict[str, list[str] | str] = {}

    def show(path: Path) -> str:
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    def visit(path: Path, depth: int, where: str) -> None:
        if not is_inside(root, path):
            raise RequirementsError(f"{where}: {show(path)} is outside the course repository")
        real = path.resolve()
        if real in seen:
            return
        seen.add(real)
        if depth > MAX_INCLUDE_DEPTH:
            raise RequirementsError(f"{where}: requirement files nested too deeply")
        try:
            data = real.read_bytes()[: MAX_REQUIREMENTS_BYTES + 1]
            text = data.decode("utf-8")
        except FileNotFoundError:
            raise RequirementsError(f"{where}: {show(path)} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RequirementsError(f"{where}: cannot read {show(path)}: {exc}") from None
        if len(data) > MAX_REQUIREMENTS_BYTES:
            raise RequirementsError(f"{show(path)}: larger than {MAX_REQUIREMENTS_BYTES} bytes")
        digest.update(f"{show(path)}\0{len(data)}\0".encode() + data)
        files.append(show(path))
        lines = _logical_lines(text)
        label = f"{show(path)}:{{}}"
        if depth == 0 and path.suffix in CONDA_SUFFIXES:
            try:
                plan = conda_plan(text, show(path))
            except FormatError as exc:
                raise RequirementsError(str(exc)) from None
            conda.update(pip="\n".join(plan.pip) + "\n", conda=plan.conda, skipped=plan.skipped)
            lines = iter(enumerate(plan.pip, 1))
            label = f"{show(path)}, pip entry {{}}"
        for number, line in lines:
            here = label.format(number)
            try:
                if _ENV_VAR.search(line):
                    raise _Refused(
                        "${...} is not allowed: pip would fill it in from the hub's "
                        "environment, which may hold secrets"
                    )
                spec, tokens = _split_options(line)
                for option, value in _options(tokens):
                    _check_option(option)
                    if option in {"-r", "--requirement", "-c", "--constraint"}:
                        assert value is not None
                        target = _path_in_url(value) if _FILE_URL.match(value) else value
                        if _URL.match(target):
                            raise _Refused(f"{option} {value}: include files from the repo only")
                        included = _inside(root, path.parent, target, value)
                        visit(included, depth + 1, here)
                if spec:
                    local_target = _local_target(spec)
                    if local_target is not None:
                        local = _inside(root, root, local_target, spec)  # pip's cwd is root
                        if local.exists():
                            files.append(show(local))
                        if local.is_file():
                            digest.update(f"{show(local)}\0".encode() + local.read_bytes())
                    remote = local_target is None and bool(_URL.match(spec))
                    match = None if local_target is not None or remote else PROJECT_NAME.match(spec)
                    found.append(Requirement(here, canonical_name(match[1]) if match else None))
            except _Refused as exc:
                raise RequirementsError(f"{here}: {exc}") from None

    visit(requirements, 0, "requirements")
    if not conda:
        return RequirementInputs(digest.hexdigest(), found, files)
    digest.update(repr(sorted(conda.items())).encode())
    pip_text, packages, skipped = conda["pip"], conda["conda"], conda["skipped"]
    assert isinstance(pip_text, str) and isinstance(packages, list) and isinstance(skipped, list)
    return RequirementInputs(digest.hexdigest(), found, files, pip_text, packages, skipped)


def check_requirements(requirements: Path, root: Path | None = None) -> None:
    """Raise RequirementsError when the file (or a file it includes) uses refused syntax.

    ``root`` is the course repository (default: the file's directory); local paths and
    ``-r``/``-c`` includes must stay inside it.
    """
    read_requirements(requirements, root)
