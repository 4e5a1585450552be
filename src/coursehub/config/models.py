"""The validated shape of coursehub.yaml.

Each setting is declared once, with its type, default and help text; the help text
is the documentation printed by ``coursehub config show --help-all``.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coursehub.config.containers import (
    DockerSpawnConfig,
    KubernetesSpawnConfig,
    check_cluster_database_url,
    check_image_reference,
)
from coursehub.config.slurm import SlurmJobOptions, SlurmSpawnConfig
from coursehub.config.units import Duration, Size
from coursehub.core.names import COURSE_NAME_RE, COURSE_NAME_RULE
from coursehub.core.numbers import whole_number

ROLE_NAMES = ("admin", "instructor", "ta", "student")
Role = Literal["admin", "instructor", "ta", "student"]

# Lower case only: JupyterHub lower-cases names, so "Alice" and "alice" would merge.
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,30}$")
UNIX_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")


class Section(BaseModel):
    # A size or duration whose default is written as in coursehub.yaml ("2G", "10m")
    # also passes validate_default=True to its Field: the same validation as here, and
    # it tells type checkers that the default is parsed into the field's type.
    model_config = ConfigDict(extra="forbid", validate_default=True)


# A CSP host-source: scheme, host (optionally *.domain), port; nothing that could end
# the directive (spaces, ';', ',', quotes).
FRAME_SOURCE = re.compile(r"^https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?/?$")


class SiteConfig(Section):
    name: str = Field("coursehub", description="Name shown on every page.")
    public_url: str | None = Field(
        None,
        description="URL students use, e.g. https://hub.example.edu. "
        "Leave empty when students reach the hub at the bind address.",
    )
    bind_address: str = Field(
        "127.0.0.1",
        description="Address the public proxy listens on. Use 0.0.0.0 to accept "
        "connections from other machines (put HTTPS in front).",
    )
    port: int = Field(8000, ge=1, le=65535, description="Port the public proxy listens on.")
    data_dir: Path = Field(
        Path("coursehub-data"),
        description="Directory for the database, secrets, logs and runtime files. "
        "Relative paths are relative to coursehub.yaml.",
    )

    frame_ancestors: list[str] = Field(
        default_factory=list,
        description="Sites allowed to show coursehub pages and notebooks in an iframe "
        "(e.g. your LMS: https://moodle.example.edu). Empty: only coursehub itself.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="How the coursehub service and `coursehub up` log: text (one readable "
        "line per record) or json (one JSON object per line, for a log collector). The "
        "hub's own lines stay JupyterHub's text (inside a JSON object with json).",
    )
    user_subdomains: bool = Field(
        False,
        description="Serve each user's servers at their own subdomain of site.public_url's "
        "host (nina.hub.example.edu), the hub and the coursehub service at that host. "
        "Recommended in production: students' JupyterLab and notebook outputs then never "
        "run on the hub's origin, so staff can open a student's live JupyterLab (live "
        "view Help). Needs site.public_url with a host name and wildcard DNS (and a "
        "wildcard certificate for https); *.localhost works without DNS for a trial.",
    )

    @model_validator(mode="after")
    def _subdomains_need_a_host_name(self) -> SiteConfig:
        if not self.user_subdomains:
            return self
        url = self.public_url or ""
        host = urlsplit(url).hostname or ""
        if not url or _is_ip(host):
            raise ValueError(
                "site.user_subdomains needs site.public_url with a host name that has "
                "subdomains, e.g. https://hub.example.edu or http://localhost:8000 (got "
                f"{url or 'none'}); an IP address has none"
            )
        if re.match(r"^https?://[^/]+/.", url):
            raise ValueError(
                f"site.user_subdomains needs site.public_url without a path (got {url}): "
                "each user's host serves the same paths as the hub's"
            )
        return self

    @field_validator("frame_ancestors")
    @classmethod
    def _frame_sources(cls, v: list[str]) -> list[str]:
        for source in v:
            if not FRAME_SOURCE.match(source):
                raise ValueError(
                    f"{source!r} is not a site: expected https://host, https://host:port "
                    "or https://*.example.edu"
                )
        return [s.rstrip("/") for s in v]

    @field_validator("public_url")
    @classmethod
    def _url_scheme(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+(/\S*)?$", v):
            raise ValueError("expected a URL starting with http:// or https://")
        return v.rstrip("/") if v else v


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class DatabaseConfig(Section):
    url: str | None = Field(
        None,
        description="SQLAlchemy URL. Empty: SQLite files in the data directory. "
        "For PostgreSQL: postgresql://user@host:5432/dbname.",
    )

    @field_validator("url")
    @classmethod
    def _known_backend(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(sqlite|postgresql(\+\w+)?)://", v):
            raise ValueError("expected a sqlite:/// or postgresql:// URL")
        return v


class GitHubAuthConfig(Section):
    client_id: str = Field(..., min_length=1, description="OAuth app client id.")
    client_secret_file: Path = Field(
        ...,
        description="File holding the OAuth app client secret (mode 0600); "
        "kept out of coursehub.yaml so the file can be shared.",
    )
    organization: str = Field(
        ...,
        min_length=1,
        description="Only members of this GitHub organisation may sign in.",
    )
    team_roles: dict[str, Role] = Field(
        default_factory=dict,
        description="Map of team slug to role, e.g. {teachers: instructor, tas: ta}. "
        "Members of the organisation in no listed team are students.",
    )
    team_courses: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Map of team slug to the course enrolments its members get, as "
        '"course:role" (role: instructor, ta or student; a bare course name is '
        'student), or a list of them, e.g. {teachers: "ds101:instructor", '
        'students-2026: ["ds101:student", "ml102:student"]}. Applied at each GitHub '
        "sign-in: joining a team enrols, leaving it unenrols from what the team gave "
        "(enrolments from a roster or made by hand are left alone).",
    )
    callback_url: str | None = Field(
        None, description="OAuth callback URL; default: <public_url>/hub/oauth_callback."
    )

    @field_validator("team_courses")
    @classmethod
    def _team_courses(cls, v: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for team, grants in v.items():
            problem = team_slug_problem(team)
            if problem:
                raise ValueError(problem)
            for grant in [grants] if isinstance(grants, str) else grants:
                problem = course_grant_problem(grant)
                if problem:
                    raise ValueError(f"team {team!r}: {problem}")
        return v

    @model_validator(mode="after")
    def _teams_of_the_organisation(self) -> GitHubAuthConfig:
        org = self.organization.lower()
        for team in [*self.team_roles, *self.team_courses]:
            team_org, sep, _ = team.partition("/")
            if sep and team_org.lower() != org:
                raise ValueError(
                    f"team {team!r} belongs to organisation {team_org!r}, but only teams "
                    f"of auth.github.organization ({self.organization}) count: write "
                    "its slug alone"
                )
        return self

    def course_grants(self) -> dict[str, list[tuple[str, str]]]:
        """team_courses as team -> [(course, role)], bare course names as students."""
        out: dict[str, list[tuple[str, str]]] = {}
        for team, grants in self.team_courses.items():
            out[team] = [course_grant(g) for g in ([grants] if isinstance(grants, str) else grants)]
        return out


COURSE_ROLE_NAMES = ("instructor", "ta", "student")
# GitHub team slugs (lower case), optionally after the organisation: school/teachers.
TEAM_SLUG_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*/)?[a-z0-9][a-z0-9_.-]*$")


def team_slug_problem(team: str) -> str | None:
    if TEAM_SLUG_RE.match(team):
        return None
    return (
        f"{team!r} is not a GitHub team slug: the slug is the team's name in lower case "
        "with '-' for spaces, as in its URL github.com/orgs/ORG/teams/SLUG"
    )


def course_grant(grant: str) -> tuple[str, str]:
    """("ds101", "ta") from "ds101:ta"; a bare course name is a student enrolment."""
    course, _, role = grant.strip().partition(":")
    return course.strip(), (role.strip() or "student")


def course_grant_problem(grant: object) -> str | None:
    if not isinstance(grant, str):
        return f'{grant!r} is not "course:role" text'
    course, role = course_grant(grant)
    if not COURSE_NAME_RE.match(course):
        return f"{grant!r}: course name {course!r} is not valid: {COURSE_NAME_RULE}"
    if role not in COURSE_ROLE_NAMES:
        return (
            f"{grant!r}: course role {role!r} is not one of "
            f'{", ".join(COURSE_ROLE_NAMES)} (write "course:role", e.g. "{course}:student")'
        )
    return None


AuthMethod = Literal["local", "github", "lti", "jwt"]


class JwtSignInConfig(Section):
    audience: str = Field("coursehub", description="Required `aud` claim of sign-in tokens.")
    issuer: str | None = Field(
        None,
        description="Required `iss` claim (the LMS plugin's); empty: any issuer, but "
        "tokens must still carry an `iss` claim.",
    )
    secret_file: Path | None = Field(
        None,
        description="File holding the HS256 shared secret (at least 32 bytes; make one "
        "with: openssl rand -hex 32 > FILE; chmod 600 FILE).",
    )
    public_key_file: Path | None = Field(
        None, description="PEM file of the LMS plugin's RSA public key, for RS256 tokens."
    )
    username_claim: str = Field(
        "username", description="Claim holding the coursehub username (e.g. username, sub)."
    )
    create_accounts: bool = Field(
        False,
        description="Create a student account for a valid token naming an unknown user "
        "(otherwise only existing accounts may sign in this way).",
    )

    @model_validator(mode="after")
    def _one_key(self) -> JwtSignInConfig:
        if (self.secret_file is None) == (self.public_key_file is None):
            raise ValueError(
                "set exactly one of auth.jwt.secret_file (HS256) "
                "or auth.jwt.public_key_file (RS256)"
            )
        return self


class AuthConfig(Section):
    methods: list[AuthMethod] = Field(
        default_factory=lambda: list[AuthMethod](["local"]),
        description="Sign-in methods offered together on the login page. local: usernames "
        "and passwords from the roster. github: GitHub OAuth restricted to one "
        "organisation. lti: launches from an LMS (see the lti section). jwt: "
        "`?auth_token=` links from an LMS plugin (see auth.jwt).",
    )
    method: Literal["local", "github"] | None = Field(
        None, description="Older single-method spelling; `method: github` is `methods: [github]`."
    )
    min_password_length: int = Field(
        8, ge=6, le=128, description="Shortest password accepted for local accounts."
    )
    max_failed_logins: int = Field(
        10, ge=1, description="Wrong passwords in a row that lock an account (local sign-in)."
    )
    lockout: Duration = Field(
        "10m", validate_default=True, description="How long such an account stays locked."
    )
    github: GitHubAuthConfig | None = Field(None, description="Settings for method github.")
    jwt: JwtSignInConfig | None = Field(None, description="Settings for method jwt.")

    @model_validator(mode="after")
    def _methods(self) -> AuthConfig:
        if self.method is not None:
            if "methods" in self.model_fields_set:
                raise ValueError("set auth.methods or auth.method, not both")
            self.methods = [self.method]
        if not self.methods:
            raise ValueError("auth.methods needs at least one sign-in method")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError("auth.methods lists a method twice")
        if (
            self.methods == ["lti"]
            or self.methods == ["jwt"]
            or set(self.methods)
            == {
                "lti",
                "jwt",
            }
        ):
            raise ValueError(
                "add local or github to auth.methods: staff and admins need a way to "
                "sign in that does not start in the LMS"
            )
        if "github" in self.methods and self.github is None:
            raise ValueError("method 'github' needs an auth.github section")
        if "jwt" in self.methods and self.jwt is None:
            raise ValueError("method 'jwt' needs an auth.jwt section")
        return self


class RosterConfig(Section):
    file: Path | None = Field(
        None,
        description="Roster imported at each `coursehub up` (CSV with username, "
        "full_name, email, role[, password] or username:password lines).",
    )


SIGNIN_METHODS = ("local", "github", "lti", "jwt")
# GitHub logins, lower-cased as the hub does: letters, digits and '-'.
GITHUB_LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,38}$")
ROLE_NAMES_HELP = (
    " A bare name is a local account (roster, `coursehub users add`); write "
    "github:LOGIN, lti:NAME or jwt:NAME for an account of another sign-in method."
)


def signin_qualified(name: str) -> tuple[str, str]:
    """(method, username) of a name in the roles section; a bare name is local."""
    method, sep, username = name.partition(":")
    return (method, username) if sep else ("local", name)


class RolesConfig(Section):
    admin: list[str] = Field(
        default_factory=list, description="Usernames with full admin rights." + ROLE_NAMES_HELP
    )
    instructor: list[str] = Field(
        default_factory=list, description="Usernames of instructors." + ROLE_NAMES_HELP
    )
    ta: list[str] = Field(
        default_factory=list, description="Usernames of teaching assistants." + ROLE_NAMES_HELP
    )

    @field_validator("admin", "instructor", "ta")
    @classmethod
    def _usernames(cls, names: list[str]) -> list[str]:
        for name in names:
            method, username = signin_qualified(name)
            if method not in SIGNIN_METHODS:
                raise ValueError(
                    f"{name!r}: {method!r} is not a sign-in method; write a bare username "
                    "(a local account) or github:LOGIN, lti:NAME, jwt:NAME"
                )
            if method == "github":
                if not GITHUB_LOGIN_RE.match(username):
                    raise ValueError(
                        f"{name!r} is not a GitHub login in lower case (letters, digits, '-')"
                    )
            elif not USERNAME_RE.match(username):
                raise ValueError(
                    f"{name!r} is not a valid username: use 1-31 lower-case letters, "
                    "digits, '.', '_' or '-', starting with a letter"
                    + ("" if method == "local" or ":" not in name else " after the method")
                )
        return names


class ServerLimits(Section):
    memory: Size | None = Field(
        "2G", validate_default=True, description="Memory per student server (e.g. 2G)."
    )
    cpu: float | None = Field(
        1.0, gt=0, le=256, description="CPU cores per student server (e.g. 0.5, 2)."
    )
    processes: int | None = Field(
        512, ge=16, description="Most processes and threads a student may run at once."
    )
    file_size: Size | None = Field(
        "2G", validate_default=True, description="Largest single file a student may write."
    )


class ServersConfig(Section):
    limits: ServerLimits = Field(default_factory=ServerLimits)
    default_url: str = Field("/lab", description="Page a student lands on.")
    concurrent_starts: int | Literal["auto"] = Field(
        "auto",
        description="How many servers may be starting at the same moment; the rest "
        "wait in a queue with a progress page. auto: the number of CPU cores.",
    )
    start_timeout: Duration = Field(
        "15m",
        validate_default=True,
        description="Longest a student may wait for a server, queue included, "
        "before the start is reported as failed.",
    )
    ready_timeout: Duration = Field(
        "2m",
        validate_default=True,
        description="Longest a started server may take to answer its first request.",
    )
    max_queued: int = Field(
        1000,
        ge=1,
        description="Most starts waiting in the queue; beyond this students are told to retry.",
    )
    start: Literal["forked", "cold"] = Field(
        "forked",
        description="forked: each server is forked from a template process that has "
        "already imported the server stack (a fraction of a second and of the memory; "
        "a cold start whenever the template is not available). cold: a new Python "
        "interpreter per server.",
    )
    language_servers: bool = Field(
        False,
        description="Let jupyter-lsp look for language servers (pylsp, pyright, ...) "
        "installed with the server, for JupyterLab's code intelligence. Off: its search "
        "(every installed package's entry points, and an `npm prefix -g` when Node is "
        "installed) costs each server start more CPU than the rest of its start-up.",
    )


class LocalSpawnConfig(Section):
    user_prefix: str = Field(
        "ch-",
        description="Prefix of Unix account names: student alice runs as ch-alice.",
    )
    home_root: Path = Field(Path("/home"), description="Where student home directories are made.")
    shell: str = Field("/bin/bash", description="Login shell of student accounts.")

    @field_validator("user_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not UNIX_PREFIX_RE.match(v):
            raise ValueError(
                "expected up to 16 lower-case letters, digits, '_' or '-', starting with a letter"
            )
        return v


class SpawnConfig(Section):
    backend: Literal["local", "demo", "kubernetes", "docker", "slurm"] = Field(
        "local",
        description="local: a Unix account per student (needs root). demo: every server "
        "runs as the account running coursehub, with NO isolation between students; "
        "chosen automatically when coursehub is not run as root. docker: a container per "
        "(student x course) on this machine, with Docker or Podman (see spawn.docker). "
        "kubernetes: the hub and servers run in a cluster, set up from "
        "`coursehub k8s render` (see spawn.kubernetes). slurm: each (student x course) "
        "server is a Slurm job running as the student's Unix account (see spawn.slurm).",
    )
    local: LocalSpawnConfig = Field(default_factory=LocalSpawnConfig)
    kubernetes: KubernetesSpawnConfig | None = Field(
        None, description="Settings for backend kubernetes (docs/kubernetes.md)."
    )
    docker: DockerSpawnConfig | None = Field(
        None, description="Settings for backend docker (docs/containers.md)."
    )
    slurm: SlurmSpawnConfig = Field(
        default_factory=SlurmSpawnConfig,
        description="Settings for backend slurm (docs/slurm.md); student accounts are "
        "made as for backend local (spawn.local).",
    )

    @model_validator(mode="after")
    def _backend_section(self) -> SpawnConfig:
        if self.backend == "kubernetes" and self.kubernetes is None:
            raise ValueError(
                "spawn.backend is kubernetes: add a spawn.kubernetes section with at least "
                "hub_image and image (see docs/kubernetes.md)"
            )
        if self.backend == "docker" and self.docker is None:
            raise ValueError(
                "spawn.backend is docker: add a spawn.docker section with at least image "
                "(see docs/containers.md)"
            )
        return self


_Value = TypeVar("_Value")


def _course_keys(v: dict[str, _Value]) -> dict[str, _Value]:
    """Keys of a per-course mapping must be course names."""
    for name in v:
        if not COURSE_NAME_RE.match(name):
            raise ValueError(f"{name!r} is not a course name: {COURSE_NAME_RULE}")
    return v


class CourseIdleConfig(Section):
    timeout: Duration | None = Field(
        None, description="Idle timeout of this course's servers (empty: the site's)."
    )
    max_age: Duration | None = Field(
        None, description="Maximum age of this course's servers (empty: the site's)."
    )


class IdleConfig(Section):
    timeout: Duration = Field(
        "1h",
        validate_default=True,
        description="Stop a server idle this long (0 disables idle culling).",
    )
    max_age: Duration = Field(
        "0", validate_default=True, description="Stop any server older than this (0: no limit)."
    )
    courses: dict[str, CourseIdleConfig] = Field(
        default_factory=dict,
        description="Per-course overrides, e.g. {ds101: {timeout: 30m}}: an exam course "
        "may keep servers longer, a large lecture free them sooner.",
    )
    runaway_after: Duration = Field(
        "30m",
        validate_default=True,
        description="A kernel busy without a break this long is reported as runaway on "
        "the staff page, where staff can stop it (0: never reported).",
    )
    check_every: Duration = Field(
        "60s",
        validate_default=True,
        ge=1,
        description="How often the culler checks servers against these limits (a server "
        "may run up to this much past its limit).",
    )

    @field_validator("courses")
    @classmethod
    def _course_names(cls, v: dict[str, CourseIdleConfig]) -> dict[str, CourseIdleConfig]:
        return _course_keys(v)


class StatsConfig(Section):
    sample_every: Duration = Field(
        "1m",
        validate_default=True,
        description="How often the monitor samples servers, kernels, CPU, memory, disk.",
    )
    raw_retention: Duration = Field(
        "14d",
        validate_default=True,
        description="Keep every sample this long; older ones are kept as hourly averages.",
    )
    retention: Duration = Field(
        "400d",
        validate_default=True,
        description="Keep hourly statistics this long (notebook opens are kept as counts).",
    )


class HooksConfig(Section):
    dir: Path | None = Field(
        None,
        description="Directory of start-up hooks, editable by admins only: site/as-root and "
        "site/as-user run before every student server starts, <course>/as-root and "
        "<course>/as-user before that course's servers (as root, then as the student).",
    )
    timeout: Duration = Field(
        "60s",
        validate_default=True,
        description="Longest one hook may run before it is stopped and the start fails "
        "(hook time counts towards servers.start_timeout).",
    )


class BackupConfig(Section):
    dir: Path | None = Field(
        None,
        description="Where scheduled backups go (empty: no schedule; `coursehub backup DEST` "
        "still works by hand).",
    )
    every: Duration = Field(
        "1d", validate_default=True, description="How often a scheduled backup is taken."
    )
    keep: int = Field(7, ge=1, le=1000, description="How many scheduled backups are kept.")
    max_age_warning: Duration = Field(
        "2d",
        validate_default=True,
        description="`coursehub doctor` warns when the newest backup is older than this.",
    )


class QuotaConfig(Section):
    soft: Size | None = Field(
        None,
        description="Disk use per student (all courses) above which the student and the "
        "staff are warned (empty: no warning). Nothing is blocked.",
    )


class MetricsConfig(Section):
    enabled: bool = Field(
        True,
        description="Serve Prometheus metrics at /services/coursehub/metrics (needs a hub "
        "token with the metrics scope, as JupyterHub's own /hub/metrics).",
    )


class WarmupConfig(Section):
    lead: Duration = Field(
        "15m",
        validate_default=True,
        description="Start the students' course servers this long before a class starts "
        "(course.yaml lectures, the staff page's 'class starts in', `coursehub course warm "
        "--at`).",
    )
    unused_after: Duration = Field(
        "30m",
        validate_default=True,
        ge=1,
        description="Stop the servers a warm-up started that nobody used this long after "
        "the class started; the idle culler leaves them alone until then.",
    )
    reserve: Size = Field(
        "1G",
        validate_default=True,
        description="Memory a warm-up leaves free (for the hub, grading, builds and "
        "everything else): it starts no more servers than fit in the machine's available "
        "memory minus this, counting a server and a kernel per student, and says who it "
        "left out.",
    )
    server_memory: Size = Field(
        "80M",
        validate_default=True,
        ge=1,
        description="Memory (PSS) one course server is counted for when none runs on "
        "this machine to measure; otherwise the running ones are measured.",
    )
    kernel_memory: Size = Field(
        "80M",
        validate_default=True,
        ge=0,
        description="Memory (PSS) one kernel is counted for when none runs on this "
        "machine to measure: each warmed student starts one in class.",
    )


class CourseSiteSettings(Section):
    image: str | None = Field(
        None,
        description="Container image of this course's servers for the docker and "
        "kubernetes backends, e.g. registry.example.edu/courses/ds101:2025-09 (make one "
        "with `coursehub course image`). Empty: the backend's default image.",
    )

    slurm: SlurmJobOptions | None = Field(
        None,
        description="Partition, account, qos and time of this course's server jobs for "
        "the slurm backend, over spawn.slurm's, e.g. {partition: gpu, account: ds101}.",
    )

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        return None if v is None else check_image_reference(v)


class CoursesConfig(Section):
    autopull: Duration = Field(
        "15m",
        validate_default=True,
        description="Pull every active course from its repository this often (0: only by "
        "hand with `coursehub course pull`). Archived courses are never pulled.",
    )
    settings: dict[str, CourseSiteSettings] = Field(
        default_factory=dict,
        description="Per-course settings kept by the site's admins (not in the course "
        "repository), e.g. {ds101: {image: registry.example.edu/courses/ds101:2025-09}}.",
    )

    @field_validator("settings")
    @classmethod
    def _course_names(cls, v: dict[str, CourseSiteSettings]) -> dict[str, CourseSiteSettings]:
        return _course_keys(v)


class EventsConfig(Section):
    retention: Duration = Field(
        "30d",
        validate_default=True,
        description="Keep notebook events this long (they feed the live class view).",
    )
    rate: float = Field(
        20,
        ge=0,
        description="Events per second one student may send, sustained (0: no limit).",
    )
    burst: int = Field(200, ge=1, description="Events one student may send at once.")
    max_stored: int = Field(
        5_000_000, ge=1000, description="At most this many events are kept (oldest go first)."
    )
    autosave: Duration = Field(
        "5s",
        validate_default=True,
        description="Course servers save open notebooks this often, so the live class view "
        "follows students within seconds (0: JupyterLab's own default of two minutes).",
    )


class GradingLimitsConfig(Section):
    cpu_time: Duration = Field(
        "2m", validate_default=True, description="CPU time one submission may use."
    )
    memory: Size = Field(
        "1G", validate_default=True, description="Memory (address space) one submission may use."
    )
    processes: int = Field(
        64, ge=8, le=4096, description="Most processes and threads one submission may run."
    )
    file_size: Size = Field(
        "64M", validate_default=True, description="Largest file a submission may write."
    )
    wall_time: Duration = Field(
        "5m",
        validate_default=True,
        description="Longest a whole grading run may take (kernel start included).",
    )
    cell_time: Duration = Field(
        "1m",
        validate_default=True,
        description="Longest one cell may run before it is interrupted.",
    )


class RemoteGradingConfig(Section):
    enabled: bool = Field(
        False,
        description="Offer the remote grading API "
        "(POST /services/coursehub/api/grading/{course}/{activity}...) to "
        "LMS plugins, authenticated by a JWT.",
    )
    audience: str = Field("coursehub", description="Required `aud` claim of the tokens.")
    issuer: str | None = Field(None, description="Required `iss` claim (the LMS plugin's).")
    secret_file: Path | None = Field(
        None,
        description="File holding the HS256 shared secret (at least 32 bytes; "
        "make one with: openssl rand -hex 32 > FILE; chmod 600 FILE).",
    )
    public_key_file: Path | None = Field(
        None, description="PEM file of the LMS plugin's RSA public key, for RS256 tokens."
    )
    wait: Duration = Field(
        "3m",
        validate_default=True,
        description="Longest a grading request waits for its result before it is "
        "answered 408 (the grading goes on; its result is kept).",
    )

    @model_validator(mode="after")
    def _one_key(self) -> RemoteGradingConfig:
        if self.enabled:
            if not self.issuer:
                raise ValueError("grading.remote_api.issuer is required when enabled")
            if (self.secret_file is None) == (self.public_key_file is None):
                raise ValueError(
                    "set exactly one of grading.remote_api.secret_file (HS256) "
                    "or grading.remote_api.public_key_file (RS256)"
                )
        return self


# ---- moodle_compat: the moodle-mod_jupyter plugin's requests, answered by coursehub ----


class MoodleCompatConfig(Section):
    enabled: bool = Field(
        False,
        description="Answer the moodle-mod_jupyter plugin's JupyterHub and gradeservice "
        "requests under /services/coursehub/compat/moodle-jupyter/ (docs/lms.md).",
    )
    jwt_secret_file: Path | None = Field(
        None,
        description="File holding the secret the plugin signs its HS256 tokens with "
        "(its 'JupyterHub JWT Secret' setting; at least 32 bytes, mode 0600).",
    )
    api_token_file: Path | None = Field(
        None,
        description="File holding the value of the plugin's 'JupyterHub API Token' "
        "setting: checked by coursehub itself, never a hub token (at least 32 bytes, 0600).",
    )
    courses: dict[str, str] = Field(
        default_factory=dict,
        description="Moodle course id -> coursehub course, e.g. {'7': 'ds101'}; "
        "requests for other Moodle courses are refused.",
    )
    enrol_students: bool = Field(
        True,
        description="Enrol a user the plugin sends for a mapped course as a student "
        "of that course when they are not enrolled yet.",
    )

    @model_validator(mode="after")
    def _secrets(self) -> MoodleCompatConfig:
        if self.enabled and (self.jwt_secret_file is None or self.api_token_file is None):
            raise ValueError(
                "grading.moodle_compat needs jwt_secret_file and api_token_file when "
                "enabled (openssl rand -hex 32 > FILE; chmod 600 FILE)"
            )
        for moodle_id, course in self.courses.items():
            if whole_number(moodle_id, max_digits=10) is None:
                raise ValueError(f"moodle_compat.courses: {moodle_id!r} is not a Moodle course id")
            if not COURSE_NAME_RE.match(course):
                raise ValueError(f"moodle_compat.courses: {course!r}: {COURSE_NAME_RULE}")
        return self


class GradingConfig(Section):
    parallel: int | Literal["auto"] = Field(
        "auto",
        description="How many submissions are graded at the same time. "
        "auto: the number of CPU cores.",
    )
    max_queued: int = Field(
        500, ge=1, description="Most gradings waiting; beyond this the remote API answers 503."
    )
    limits: GradingLimitsConfig = Field(default_factory=GradingLimitsConfig)
    remote_api: RemoteGradingConfig = Field(default_factory=RemoteGradingConfig)
    moodle_compat: MoodleCompatConfig = Field(default_factory=MoodleCompatConfig)
    run_on: Literal["service", "slurm"] = Field(
        "service",
        description="service: the coursehub service grades on this machine. slurm: each "
        "grading is a Slurm job (as root, in the same sandbox, on a node), with the "
        "cluster of spawn.slurm; needs the data directory and the database reachable "
        "from the nodes (docs/slurm.md).",
    )
    slurm: SlurmJobOptions | None = Field(
        None,
        description="Partition, account and qos of grading jobs (run_on: slurm), over "
        "spawn.slurm's; their time comes from grading.limits.wall_time.",
    )

    @field_validator("parallel")
    @classmethod
    def _parallel(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= 64:
            raise ValueError("expected auto or a number from 1 to 64")
        return v


# LTI claim paths are short words or claim URLs; nothing else.
CLAIM_RE = re.compile(r"^[A-Za-z0-9_:/.#-]{1,200}$")
PLATFORM_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,23}$")


class LtiPlatformConfig(Section):
    name: str = Field(
        ..., description="Short label of this LMS (lower case, e.g. moodle); shown to staff."
    )
    issuer: str = Field(
        ..., description="The platform's issuer (`iss`), e.g. https://moodle.example.edu."
    )
    client_id: str = Field(..., min_length=1, description="Client id the platform gave coursehub.")
    deployment_ids: list[str] = Field(
        default_factory=list,
        description="Deployment ids accepted from this platform (the LMS shows them once "
        "coursehub is added there). Empty: no launch is accepted.",
    )
    auth_login_url: str = Field(..., description="The platform's OIDC authentication URL.")
    auth_token_url: str = Field(
        ..., description="The platform's OAuth2 token URL (grades and rosters)."
    )
    key_set_url: str = Field(..., description="The platform's public keys (JWKS URL).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not PLATFORM_NAME_RE.match(v):
            raise ValueError(
                "expected 1-24 lower-case letters, digits or '-', starting with a letter"
            )
        return v

    @field_validator("issuer", "auth_login_url", "auth_token_url", "key_set_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", v):
            raise ValueError("expected a URL starting with https:// (or http:// for tests)")
        return v


class LtiConfig(Section):
    platforms: list[LtiPlatformConfig] = Field(
        default_factory=list,
        description="LMS platforms registered from this file (more can be added with "
        "`coursehub lti add-platform`).",
    )
    username_claim: str = Field(
        "email",
        description="Where readable usernames come from: email (the part before @), "
        "preferred_username, name, given_name, sub, or a claim URL. Usernames stay the "
        "same across launches and differ across platforms.",
    )
    auto_create_courses: bool = Field(
        True,
        description="Create a course on an instructor's first launch from an LMS course "
        "that is not linked to one yet (otherwise the instructor links it by hand).",
    )
    grade_passback: bool = Field(
        True, description="Send assignment scores to the LMS gradebook (AGS) when it allows."
    )
    roster_sync: Duration = Field(
        "6h",
        validate_default=True,
        description="Fetch each linked LMS course's membership (NRPS) this often, so "
        "accounts and enrolments exist before students first launch (0: only by hand).",
    )

    @field_validator("username_claim")
    @classmethod
    def _claim(cls, v: str) -> str:
        if not CLAIM_RE.match(v):
            raise ValueError("expected a claim name such as email, sub or a claim URL")
        return v

    @model_validator(mode="after")
    def _unique(self) -> LtiConfig:
        names = [p.name for p in self.platforms]
        pairs = [(p.issuer, p.client_id) for p in self.platforms]
        if len(set(names)) != len(names):
            raise ValueError("two lti.platforms have the same name")
        if len(set(pairs)) != len(pairs):
            raise ValueError("two lti.platforms have the same issuer and client_id")
        return self


class CoursehubConfig(Section):
    site: SiteConfig = Field(default_factory=SiteConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    roster: RosterConfig = Field(default_factory=RosterConfig)
    roles: RolesConfig = Field(default_factory=RolesConfig)
    servers: ServersConfig = Field(default_factory=ServersConfig)
    spawn: SpawnConfig = Field(default_factory=SpawnConfig)
    idle: IdleConfig = Field(default_factory=IdleConfig)
    courses: CoursesConfig = Field(default_factory=CoursesConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    grading: GradingConfig = Field(default_factory=GradingConfig)
    lti: LtiConfig = Field(default_factory=LtiConfig)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    hooks: HooksConfig = Field(default_factory=HooksConfig)
    backup: BackupConfig = Field(default_factory=BackupConfig)
    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    warmup: WarmupConfig = Field(default_factory=WarmupConfig)
    extra_config_dir: Path | None = Field(
        None,
        description="Directory of extra jupyterhub_config.d/*.py files loaded last, "
        "in name order (escape hatch for JupyterHub settings coursehub does not cover).",
    )

    @model_validator(mode="after")
    def _moodle_compat_signs_in(self) -> CoursehubConfig:
        # the plugin's links are turned into auth.jwt links the service signs itself
        jwt = self.auth.jwt
        if self.grading.moodle_compat.enabled and (
            "jwt" not in self.auth.methods or jwt is None or jwt.secret_file is None
        ):
            raise ValueError(
                "grading.moodle_compat signs students in through auth.jwt: add jwt to "
                "auth.methods and set auth.jwt.secret_file (HS256)"
            )
        return self

    @model_validator(mode="after")
    def _container_backends(self) -> CoursehubConfig:
        spawn = self.spawn
        if spawn.backend == "kubernetes" and spawn.kubernetes is not None:
            url = spawn.kubernetes.database_url or self.database.url
            if url is None:
                raise ValueError(
                    "spawn.backend kubernetes needs PostgreSQL: set "
                    "spawn.kubernetes.database_url (or database.url) to "
                    "postgresql://user@host:5432/db"
                )
            if spawn.kubernetes.database_url is None:
                try:
                    check_cluster_database_url(_without_password(url))
                except ValueError as exc:
                    raise ValueError(f"database.url: {exc}") from None
        if spawn.backend == "slurm" and self.servers.limits.memory is None:
            raise ValueError(
                "spawn.backend slurm needs servers.limits.memory (e.g. 2G): a job that "
                "asks for no memory gets a whole node's"
            )
        loopback = ("127.0.0.1", "::1", "localhost")
        address = spawn.slurm.hub_address
        if (
            spawn.backend == "slurm"
            and not ipaddress.ip_address(address).is_loopback
            and self.site.bind_address not in ("0.0.0.0", "::", address)
        ):
            raise ValueError(
                f"spawn.slurm.hub_address is {address}: servers on the nodes reach the hub "
                f"through the proxy there, but site.bind_address is {self.site.bind_address}; "
                f"set site.bind_address to {address} (or 0.0.0.0) and put HTTPS in front"
            )
        if spawn.backend == "docker" and self.site.bind_address in loopback:
            raise ValueError(
                "spawn.backend docker: containers cannot reach this machine's 127.0.0.1; "
                "set site.bind_address to 0.0.0.0 (or this machine's address on the "
                "container network) and put HTTPS in front"
            )
        remote_slurm = spawn.backend == "slurm" and not ipaddress.ip_address(address).is_loopback
        if self.site.user_subdomains and (
            spawn.backend in ("docker", "kubernetes") or remote_slurm
        ):
            # Their servers reach the service through the proxy by address, and the
            # proxy routes by host name with subdomains.
            raise ValueError(
                "site.user_subdomains works with servers on this machine (spawn.backend "
                f"local or demo, or slurm with a loopback hub_address), not {spawn.backend} "
                "yet; turn it off, or keep the servers here"
            )
        return self


def _without_password(url: str) -> str:
    # database.url may hold a password on one machine; the cluster reads it from a Secret.
    return re.sub(r"^([^:/]+://[^:/@]+):[^@/]*@", r"\1@", url)
