"""Settings of the coursehub service, read once from the environment the hub provides."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import TypeVar
from urllib.parse import urlparse

from pydantic import BaseModel, ValidationError

from coursehub.config.service_sections import (
    BackupSection,
    GradingSection,
    LtiSection,
    OpsSection,
    WarmupSection,
)
from coursehub.config.translate.services import BACKUP_ENV
from coursehub.core.errors import CoursehubError

S = TypeVar("S", bound=BaseModel)


class ServiceConfigError(CoursehubError):
    """The service's environment is missing or has malformed variables."""

    exit_code = 2


def _slashed(path: str) -> str:
    """`path` with exactly one leading and one trailing slash."""
    return "/" + path.strip("/") + "/" if path.strip("/") else "/"


def _default_version() -> str:
    try:
        return package_version("coursehub")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the service needs; secrets are kept out of `repr`."""

    api_token: str = field(repr=False)
    client_id: str
    api_url: str = "http://127.0.0.1:8081/hub/api"
    service_url: str = "http://127.0.0.1:10101"
    service_prefix: str = "/services/coursehub/"
    service_name: str = "coursehub"
    oauth_callback_url: str = ""
    base_url: str = "/"
    access_scopes: frozenset[str] = frozenset()
    public_url: str = ""
    hub_host: str = ""
    # site.user_subdomains: the hub's origin, users' servers at <user>.<its host>; '' off
    subdomain_host: str = ""
    ssl_keyfile: str = ""
    ssl_certfile: str = ""
    ssl_client_ca: str = ""
    site_name: str = "coursehub"
    database_url: str | None = field(default=None, repr=False)
    version: str = field(default_factory=_default_version)
    data_dir: str = ""  # coursehub's data directory (course checkouts live below it)
    spawn_backend: str = "local"  # local: one Unix account per student; demo: one account
    user_prefix: str = "ch-"  # student alice is Unix account <prefix>alice
    demo_home_root: str = ""  # where demo-mode homes are
    autopull_seconds: int = 0  # pull active courses this often (0: never)
    frame_ancestors: tuple[str, ...] = ()  # sites that may frame our pages (site.frame_ancestors)
    events_retention_seconds: int = 30 * 86400
    events_rate: float = 20.0  # per student per second (0: unlimited)
    events_burst: int = 200
    events_max_stored: int = 5_000_000
    # coursehub.yaml's sections for the service, parsed with their models
    # (config/service_sections.py): absent ones are off (no LMS, no schedule, no monitor)
    grading: GradingSection = field(default_factory=GradingSection, compare=False)
    lti: LtiSection = field(default_factory=LtiSection, compare=False)
    backup: BackupSection | None = field(default=None, compare=False)
    ops: OpsSection | None = field(default=None, compare=False)
    warmup: WarmupSection = field(default_factory=WarmupSection, compare=False)

    @property
    def operations(self) -> OpsSection:
        """COURSEHUB_OPS, or its defaults when the hub gave none."""
        return self.ops or OpsSection()

    @property
    def hub_prefix(self) -> str:
        """URL path of the hub's own pages, e.g. /hub/."""
        return self.base_url + "hub/"

    @property
    def callback_url(self) -> str:
        return self.oauth_callback_url or self.service_prefix + "oauth_callback"

    @property
    def bind_host(self) -> str:
        return urlparse(self.service_url).hostname or "127.0.0.1"

    @property
    def bind_port(self) -> int:
        parsed = urlparse(self.service_url)
        return parsed.port or (443 if parsed.scheme == "https" else 80)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServiceSettings:
        """Settings from the variables JupyterHub sets for a managed service plus ours.

        Raises ServiceConfigError naming every missing or malformed variable.
        """
        problems: list[str] = []

        def get(name: str, default: str = "") -> str:
            return (environ.get(name) or default).strip()

        for name in ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_CLIENT_ID"):
            if not get(name):
                problems.append(f"{name} is not set (the hub sets it for managed services)")
        service_name = get("JUPYTERHUB_SERVICE_NAME", "coursehub")
        service_url = get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101")
        if urlparse(service_url).scheme not in ("http", "https"):
            problems.append(f"JUPYTERHUB_SERVICE_URL={service_url!r}: expected http(s)://host:port")
        scopes = _access_scopes(get("JUPYTERHUB_OAUTH_ACCESS_SCOPES"), service_name, problems)
        database_url = get("COURSEHUB_DATABASE_URL") or None
        autopull = _int(get, "COURSEHUB_AUTOPULL_SECONDS", "0", problems)
        retention = _int(get, "COURSEHUB_EVENTS_RETENTION_SECONDS", str(30 * 86400), problems)
        rate = _float(get, "COURSEHUB_EVENTS_RATE", "20", problems)
        burst = _int(get, "COURSEHUB_EVENTS_BURST", "200", problems)
        max_stored = _int(get, "COURSEHUB_EVENTS_MAX_STORED", "5000000", problems)
        grading = _section(get, "COURSEHUB_GRADING", GradingSection, problems)
        lti = _section(get, "COURSEHUB_LTI", LtiSection, problems)
        backup = _section(get, BACKUP_ENV, BackupSection, problems)
        ops = _section(get, "COURSEHUB_OPS", OpsSection, problems)
        warmup = _section(get, "COURSEHUB_WARMUP", WarmupSection, problems)
        if problems:
            raise ServiceConfigError("coursehub service: " + "; ".join(problems))
        return cls(
            api_token=get("JUPYTERHUB_API_TOKEN"),
            client_id=get("JUPYTERHUB_CLIENT_ID"),
            api_url=get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api").rstrip("/"),
            service_url=service_url,
            service_prefix=_slashed(get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{service_name}/")),
            service_name=service_name,
            oauth_callback_url=get("JUPYTERHUB_OAUTH_CALLBACK_URL"),
            base_url=_slashed(get("JUPYTERHUB_BASE_URL", "/")),
            access_scopes=scopes,
            public_url=get("JUPYTERHUB_PUBLIC_URL"),
            hub_host=get("JUPYTERHUB_HOST"),
            subdomain_host=get("COURSEHUB_SUBDOMAIN_HOST").rstrip("/"),
            ssl_keyfile=get("JUPYTERHUB_SSL_KEYFILE"),
            ssl_certfile=get("JUPYTERHUB_SSL_CERTFILE"),
            ssl_client_ca=get("JUPYTERHUB_SSL_CLIENT_CA"),
            site_name=get("COURSEHUB_SITE_NAME", "coursehub"),
            database_url=database_url,
            version=get("COURSEHUB_VERSION") or _default_version(),
            data_dir=get("COURSEHUB_DATA_DIR"),
            spawn_backend=get("COURSEHUB_SPAWN_BACKEND", "local"),
            user_prefix=get("COURSEHUB_USER_PREFIX", "ch-"),
            demo_home_root=get("COURSEHUB_DEMO_HOME_ROOT"),
            autopull_seconds=autopull,
            frame_ancestors=tuple(get("COURSEHUB_FRAME_ANCESTORS").split()),
            events_retention_seconds=retention,
            events_rate=rate,
            events_burst=max(burst, 1),
            events_max_stored=max_stored,
            grading=grading or GradingSection(),
            lti=lti or LtiSection(),
            backup=backup,
            ops=ops,
            warmup=warmup or WarmupSection(),
        )


def _access_scopes(raw: str, service_name: str, problems: list[str]) -> frozenset[str]:
    """The scopes a token must hold to use this service (never empty: empty means nobody)."""
    if not raw:
        return frozenset({f"access:services!service={service_name}"})
    try:
        scopes = json.loads(raw)
    except ValueError:
        scopes = None
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        problems.append("JUPYTERHUB_OAUTH_ACCESS_SCOPES: expected a non-empty JSON list of scopes")
        return frozenset()
    return frozenset(scopes)


def _section(
    get: Callable[[str, str], str], name: str, model: type[S], problems: list[str]
) -> S | None:
    """The section in variable `name` (None when unset), checked by its model."""
    raw = get(name, "")
    if not raw:
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'the value'}: {e['msg']}" for e in exc.errors()
        )
        problems.append(f"{name}: {where}")
        return None


def _int(get: Callable[[str, str], str], name: str, default: str, problems: list[str]) -> int:
    raw = get(name, default)
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        problems.append(f"{name}={raw!r}: expected a whole number, 0 or more")
        return 0
    return value


def _float(get: Callable[[str, str], str], name: str, default: str, problems: list[str]) -> float:
    raw = get(name, default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        problems.append(f"{name}={raw!r}: expected a number, 0 or more")
        return 0.0
    return value
