"""The course manifest: ``course.yaml`` at the root of a course repository.

The file is optional; a repository without one gets defaults. Paths in it are
checked against the checkout so a course can never point students outside itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from coursehub.config.models import USERNAME_RE
from coursehub.config.yaml_errors import TooManyNodes, parse_mapping, to_plain, validation_problems
from coursehub.core.errors import ConfigProblem, CoursehubError
from coursehub.courses.formats import derive
from coursehub.courses.formats.reading import FormatError
from coursehub.courses.lectures import LecturesSpec
from coursehub.courses.paths import (
    CONFIG_FOLDERS,
    PathRejected,
    check_relative_path,
    safe_relative_path,
)

MANIFEST_NAME = "course.yaml"
MAX_MANIFEST_BYTES = 256_000  # ruamel parses ~15k lines/s; real manifests are tiny
TRACK_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
PYTHON_VERSION_RE = re.compile(r"^\d+(\.\d+){0,2}$")


class ManifestError(CoursehubError):
    """course.yaml has problems; the message lists each as course.yaml:LINE: key: ..."""

    exit_code = 2

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _repo(info: ValidationInfo) -> Path | None:
    # The checkout is passed as validation context; without it only the text is checked.
    return (info.context or {}).get("repo")


def _relative(value: str, hidden_ok: frozenset[str] = frozenset()) -> str:
    try:
        return str(check_relative_path(value, hidden_ok))
    except PathRejected as exc:
        raise ValueError(exc.reason) from None


def _in_repo(
    value: str,
    info: ValidationInfo,
    *,
    want_file: bool = False,
    hidden_ok: frozenset[str] = frozenset(),
) -> str:
    value = _relative(value, hidden_ok)
    repo = _repo(info)
    if repo is not None:
        try:
            real = safe_relative_path(repo, value, hidden_ok)
        except PathRejected as exc:
            raise ValueError(exc.reason) from None
        if not real.exists():
            raise ValueError("not found in the course repository")
        if want_file and not real.is_file():
            raise ValueError("expected a file in the course repository")
    return value


class SectionSpec(_Spec):
    title: str = Field(..., min_length=1, description="Heading shown above the notebooks.")
    notebooks: list[str] = Field(
        ...,
        min_length=1,
        description="Glob patterns relative to the repository root, e.g. week1/*.ipynb "
        "or labs/**/*.md; only notebooks are listed.",
    )

    @field_validator("notebooks")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        return [_relative(p) for p in patterns]


class TrackSpec(_Spec):
    name: str = Field(
        ...,
        description="Short name used in links: lower-case letters, digits, '-' and '_'.",
    )
    title: str | None = Field(None, description="Title shown to students (default: the name).")
    description: str = Field("", description="One paragraph shown under the title.")
    sections: list[SectionSpec] = Field(..., min_length=1, description="Sections, in order.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not TRACK_NAME_RE.match(v):
            raise ValueError("expected 1-64 lower-case letters, digits, '-' or '_'")
        return v


def _split_arrow(value: Any) -> Any:
    if isinstance(value, str):
        source, arrow, target = value.partition("->")
        if not arrow or not source.strip() or not target.strip():
            raise ValueError("expected 'source -> target', e.g. 'data -> data'")
        return {"source": source.strip(), "target": target.strip()}
    return value


class MappingSpec(_Spec):
    source: str = Field(..., description="File or directory in the repository.")
    target: str = Field(..., description="Where it appears beside each student notebook.")

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, v: Any, info: ValidationInfo) -> Any:
        return _in_repo(v.rstrip("/"), info) if isinstance(v, str) else v

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, v: Any) -> Any:
        return _relative(v.rstrip("/")) if isinstance(v, str) else v


Mapping = Annotated[MappingSpec, BeforeValidator(_split_arrow)]


class EnvironmentSpec(_Spec):
    requirements: str | None = Field(
        None,
        description="Requirements file (or conda environment.yml) in the repository. "
        "Default: as Binder finds it (binder/ or .binder/ first, environment.yml before "
        "requirements.txt); write `requirements: null` to use none.",
    )
    python: str | None = Field(None, description='Python version, quoted, e.g. "3.12".')

    @field_validator("requirements")
    @classmethod
    def _requirements(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _in_repo(v, info, want_file=True, hidden_ok=CONFIG_FOLDERS)

    @field_validator("python", mode="before")
    @classmethod
    def _python(cls, v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            # YAML reads 3.10 as the number 3.1: the intended version is already lost.
            raise ValueError('write the version in quotes, e.g. python: "3.10"')
        if isinstance(v, str) and not PYTHON_VERSION_RE.match(v):
            raise ValueError('expected a version such as "3.12"')
        return v


class StaffSpec(_Spec):
    instructors: list[str] = Field([], description="Usernames of the course's instructors.")
    tas: list[str] = Field([], description="Usernames of the course's teaching assistants.")

    @field_validator("instructors", "tas")
    @classmethod
    def _usernames(cls, names: list[str]) -> list[str]:
        for name in names:
            if not USERNAME_RE.match(name):
                raise ValueError(
                    f"{name!r} is not a valid username: use 1-31 lower-case letters, "
                    "digits, '.', '_' or '-', starting with a letter"
                )
        return names


# --- kernels: what the course's kernel answers for and imports from -------------------
# The course kernel always answers for python3 and for every Python kernel the course's
# notebooks name (courses/kernel_requests.py); the repository's modules/ folder is on
# its import path when there is one (as nbhosting does).
KERNEL_ALIAS_RE = re.compile(r"^[a-z0-9._-]{1,64}$")


class KernelsSpec(_Spec):
    python_path: list[str] = Field(
        [],
        description="Repository folders put on the course kernel's import path (after "
        "modules/, which is put there whenever the repository has one), e.g. [lib, src]; "
        "'.' is the repository's top folder.",
    )
    aliases: list[str] = Field(
        [],
        description="More kernel names the course's kernel answers for, beyond python3 and "
        "the Python kernels the course's notebooks name.",
    )
    server_python: bool = Field(
        False,
        description="Also offer the server's own Python (without the course's packages) as "
        "a second kernel, 'Python 3 (server)'.",
    )

    @field_validator("python_path", mode="before")
    @classmethod
    def _folders(cls, v: Any, info: ValidationInfo) -> Any:
        if not isinstance(v, list):
            return v
        folders = []
        for item in v:
            if not isinstance(item, str):
                raise ValueError("expected folder names of the repository, e.g. [lib, src]")
            folder = "." if item.strip("/") == "." else _in_repo(item.rstrip("/"), info)
            repo = _repo(info)
            if repo is not None and folder != "." and not safe_relative_path(repo, folder).is_dir():
                raise ValueError(f"{folder!r} is not a folder of the course repository")
            if folder not in folders:
                folders.append(folder)
        return folders

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, names: list[str]) -> list[str]:
        for name in names:
            if not KERNEL_ALIAS_RE.match(name):
                raise ValueError(
                    f"{name!r} is not a kernel name: use 1-64 lower-case letters, digits, "
                    "'.', '_' or '-'"
                )
        return names


class CourseManifest(_Spec):
    title: str = Field("", description="Course title (default: the course name).")
    description: str = Field("", description="One paragraph shown on the course page.")
    tracks: list[TrackSpec] = Field(
        [],
        description="Ordered paths through the notebooks. Default: one track with a "
        "section per folder holding notebooks.",
    )
    mappings: list[Mapping] = Field(
        [],
        description="Read-only files or directories shown beside every student notebook, "
        "as 'source -> target' or {source, target}.",
    )
    environment: EnvironmentSpec = Field(
        default_factory=EnvironmentSpec, description="What the course's kernel needs."
    )
    staff: StaffSpec = Field(default_factory=StaffSpec, description="Course staff by username.")
    kernels: KernelsSpec = Field(
        default_factory=KernelsSpec,
        description="The names the course's kernel answers for and the folders it imports from.",
    )
    lectures: LecturesSpec | None = Field(
        None,
        description="When the class meets (weekly times in a zone, and dates): students' "
        "servers are started before each lecture (warmup.lead in coursehub.yaml).",
    )
    # Set by load_manifest: the file each part came from, and what was found unused.
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _notes: list[str] = PrivateAttr(default_factory=list)

    @property
    def sources(self) -> dict[str, str]:
        """{"tracks": ".nbhosting/nbhosting.yaml", "environment": "binder/...", ...}"""
        return self._sources

    @property
    def notes(self) -> list[str]:
        return self._notes

    @model_validator(mode="before")
    @classmethod
    def _default_title(cls, data: Any, info: ValidationInfo) -> Any:
        name = (info.context or {}).get("course_name")
        if isinstance(data, dict) and data.get("title") is None and name:
            data = {**data, "title": name}
        return data

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        # Runs only for a title written in the file: an empty one is a mistake.
        if not v.strip():
            raise ValueError("expected a non-empty title (leave the key out for the course name)")
        return v

    @field_validator("tracks")
    @classmethod
    def _unique_tracks(cls, tracks: list[TrackSpec]) -> list[TrackSpec]:
        _no_duplicates([t.name for t in tracks], "track name")
        return tracks

    @field_validator("mappings")
    @classmethod
    def _unique_targets(cls, mappings: list[MappingSpec]) -> list[MappingSpec]:
        _no_duplicates([m.target for m in mappings], "mapping target")
        return mappings

    @model_validator(mode="after")
    def _default_requirements(self, info: ValidationInfo) -> CourseManifest:
        repo = _repo(info)
        if repo is not None and "requirements" not in self.environment.model_fields_set:
            try:
                found = safe_relative_path(repo, "requirements.txt").is_file()
            except PathRejected:
                found = False  # a symlink out of the repo is no requirements file
            if found:
                self.environment.requirements = "requirements.txt"
        return self


def _no_duplicates(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} appears more than once")
        seen.add(name)


def load_manifest(repo: Path, course_name: str) -> CourseManifest:
    """Read and validate ``<repo>/course.yaml``, completed by the repository's own
    settings files (nbhosting, Binder, Jupyter Book) for the keys it does not set."""
    context = {"repo": Path(repo), "course_name": course_name}
    path = Path(repo) / MANIFEST_NAME
    present = path.exists() or path.is_symlink()
    data: Any = None
    plain: dict[str, Any] = {}
    if present:
        data, problems = parse_mapping(_read(repo), MANIFEST_NAME)
        if problems:
            raise ManifestError(problems)
        try:
            plain = to_plain(data)
        except TooManyNodes as exc:
            raise ManifestError([_problem(str(exc))]) from None
    plain, sources, notes = _with_repo_formats(Path(repo), plain, context)
    try:
        manifest = CourseManifest.model_validate(plain, context=context)
    except ValidationError as exc:
        raise ManifestError(validation_problems(exc, data, MANIFEST_NAME, CourseManifest)) from None
    if present:
        for key in ("tracks", "mappings"):
            if key in plain and key not in sources:
                sources[key] = MANIFEST_NAME
        if "requirements" in (plain.get("environment") or {}):
            sources.setdefault("environment", MANIFEST_NAME)
    manifest._sources = sources
    manifest._notes = notes
    return manifest


# --- repositories read as they are (see courses/formats) -------------------------------


def _with_repo_formats(
    repo: Path, plain: dict[str, Any], context: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """course.yaml's data with what other systems' files say for the keys it leaves out."""
    title = plain.get("title")
    title = title if isinstance(title, str) else str(context["course_name"])
    try:
        found = derive(repo, title)
    except FormatError as exc:
        raise ManifestError(exc.problems) from None
    plain = dict(plain)
    sources: dict[str, str] = {}
    notes = list(found.notes)
    for key, item in (("tracks", found.tracks), ("mappings", found.mappings)):
        if item is None:
            continue
        if key in plain:
            notes.append(f"{item.source} is not used for {key}: {MANIFEST_NAME} sets them")
            continue
        _check_derived(key, item.value, item.source, context)
        plain[key] = item.value
        sources[key] = item.source
    environment = plain.get("environment")
    env = found.environment
    if env is not None and env.source:
        if isinstance(environment, dict) and "requirements" in environment:
            notes.append(f"{env.source} is not used: {MANIFEST_NAME} names its own")
        elif environment is None or isinstance(environment, dict):
            plain["environment"] = {**(environment or {}), "requirements": env.value}
            sources["environment"] = env.source
    return plain, sources, notes


def _check_derived(key: str, value: Any, source: str, context: dict[str, Any]) -> None:
    # Errors name the file the data came from, not course.yaml.
    try:
        CourseManifest.model_validate({key: value}, context=context)
    except ValidationError as exc:
        problems = [
            ConfigProblem(source, None, ".".join(str(p) for p in err["loc"]), None, err["msg"])
            for err in exc.errors()
        ]
        raise ManifestError(problems) from None


def _read(repo: Path) -> str:
    # course.yaml comes from a git repository anyone with push access controls:
    # a symlink to /etc/shadow must not end up quoted in error messages.
    try:
        path = safe_relative_path(repo, MANIFEST_NAME)
    except PathRejected as exc:
        raise ManifestError([_problem(exc.reason)]) from None
    if not path.is_file():
        raise ManifestError([_problem("expected a regular file")])
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError([_problem(f"larger than {MAX_MANIFEST_BYTES} bytes")])
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError([_problem(f"not UTF-8 text ({exc.reason})")]) from None


def _problem(message: str) -> ConfigProblem:
    return ConfigProblem(MANIFEST_NAME, None, "", None, message)
