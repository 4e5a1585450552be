"""The pure translation of a validated coursehub.yaml into JupyterHub settings.

Nothing here reads files, opens sockets or looks at the machine: everything it
needs is passed in, so the translation is unit-tested without anything running.
"""

from __future__ import annotations

import html
import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from coursehub.config.layout import DataLayout, Ports
from coursehub.config.models import SIGNIN_METHODS, CoursehubConfig, signin_qualified
from coursehub.config.service_sections import (
    GradingJobTarget,
    GradingSection,
    IdleSection,
    LtiSection,
    OpsSection,
    WarmupSection,
)
from coursehub.core.errors import CoursehubError
from coursehub.core.legacy_paths import proxy_routes
from coursehub.core.roles import CLI_SERVICE_NAME, CULLER_SERVICE_NAME, ROLE_GROUPS, SERVICE_NAME
from coursehub.student.lockdown import SERVER_ENV

AUTHENTICATORS = {
    "local": "coursehub.hub.auth.local.CoursehubLocalAuthenticator",
    "github": "coursehub.hub.auth.github.CoursehubGitHubAuthenticator",
}
# JupyterHub template overrides shipped in the package (login, home and spawn pages).
HUB_TEMPLATES = Path(__file__).parents[2] / "hub" / "templates"
SPAWNERS = {
    "local": "coursehub.hub.spawners.local.CoursehubLocalSpawner",
    "demo": "coursehub.hub.spawners.local.CoursehubDemoSpawner",
    "docker": "coursehub.hub.spawners.docker.CoursehubDockerSpawner",
    "slurm": "coursehub.hub.spawners.slurm.CoursehubSlurmSpawner",
}


COURSEHUB_HOME = f"/services/{SERVICE_NAME}/"
# Signing in (every method) lands on the coursehub home, My courses; no server starts
# until a course is opened. JupyterHub's own home and the default server's spawn page
# lead there too (hub/templates, hub/spawners/default_server.py).
FIRST_STEPS: dict[str, Any] = {
    # where sign-in goes without a ?next=, and where / and /hub/ lead
    "default_url": COURSEHUB_HOME,
    # never "start my server" after sign-in: a default server is no course's
    "redirect_to_server": False,
}
FIRST_STEPS_TEMPLATE_VARS = {"coursehub_home": COURSEHUB_HOME}


# What config/secrets.py writes for a token: 32 random bytes as 64 hex digits.
_GENERATED_TOKEN = re.compile(r"[0-9a-f]{64}")
# A random 64-digit hex string uses nearly all 16 digits; a typed one ("0000…",
# "deadbeef" repeated) does not.
_MIN_DISTINCT_DIGITS = 10


def looks_generated(token: str) -> bool:
    """Whether a token has the form and spread of the ones coursehub generates."""
    return bool(_GENERATED_TOKEN.fullmatch(token)) and len(set(token)) >= _MIN_DISTINCT_DIGITS


@dataclass(frozen=True)
class HubSecrets:
    """Secret values the hub needs in memory (the cookie secret stays in its file)."""

    proxy_token: str
    service_token: str
    cli_token: str
    github_client_secret: str | None = None


@dataclass(frozen=True)
class Machine:
    """Facts about where the hub runs, gathered by the caller."""

    python: str
    cpu_count: int


def grading_settings(config: CoursehubConfig, machine: Machine) -> str:
    """The grading section for the service, as one JSON value (paths, no secrets)."""
    grading = config.grading
    parallel = grading.parallel if grading.parallel != "auto" else max(1, machine.cpu_count)
    section = GradingSection(
        parallel=parallel,
        max_queued=grading.max_queued,
        limits=grading.limits,
        remote_api=grading.remote_api,
        slurm=grading_slurm_settings(config) if grading.run_on == "slurm" else None,
        moodle_compat=grading.moodle_compat,
        signin_link=config.auth.jwt if grading.moodle_compat.enabled else None,
    )
    return section.model_dump_json()


def grading_slurm_settings(config: CoursehubConfig) -> GradingJobTarget:
    """Where grading jobs go (grading.run_on: slurm): the cluster of spawn.slurm, with
    grading.slurm's partition, account and qos over the site's."""
    slurm = config.spawn.slurm
    own = config.grading.slurm
    return GradingJobTarget(
        conf=str(slurm.conf) if slurm.conf else "",
        bin_dir=str(slurm.bin_dir) if slurm.bin_dir else "",
        partition=(own and own.partition) or slurm.partition or "",
        account=(own and own.account) or slurm.account or "",
        qos=(own and own.qos) or slurm.qos or "",
        options=list(slurm.options),
    )


def lti_settings(config: CoursehubConfig) -> str:
    """The LMS section for the service, as one JSON value (no secrets)."""
    lti = config.lti
    section = LtiSection(
        enabled="lti" in config.auth.methods,
        username_claim=lti.username_claim,
        auto_create_courses=lti.auto_create_courses,
        grade_passback=lti.grade_passback,
        roster_sync_seconds=int(lti.roster_sync),
        public_url=public_url(config),
    )
    return section.model_dump_json()


def coursehub_database_url(config: CoursehubConfig, layout: DataLayout) -> str:
    return config.database.url or f"sqlite:///{layout.coursehub_db_file}"


def hub_database_url(config: CoursehubConfig, layout: DataLayout) -> str:
    # On PostgreSQL both live in one database, in distinct tables.
    return config.database.url or f"sqlite:///{layout.hub_db_file}"


def public_url(config: CoursehubConfig) -> str:
    site = config.site
    if site.public_url:
        return site.public_url
    host = "127.0.0.1" if site.bind_address in ("0.0.0.0", "::", "") else site.bind_address
    return f"http://{host}:{site.port}"


def subdomain_host(config: CoursehubConfig) -> str:
    """JupyterHub's subdomain_host: the hub's origin when site.user_subdomains is on
    (the model checked that public_url names a host without a path), else ''."""
    return public_url(config) if config.site.user_subdomains else ""


def _route_host(config: CoursehubConfig) -> str:
    """The host part of the hub's own proxy routes: with user subdomains the proxy
    routes by host name (JupyterHub's routespecs, without the port), else none."""
    if not config.site.user_subdomains:
        return ""
    return urlsplit(subdomain_host(config)).hostname or ""


def frame_ancestors_directive(config: CoursehubConfig) -> str:
    return " ".join(["frame-ancestors 'self'", *config.site.frame_ancestors])


SLURM_AUTO_STARTS = 16  # servers start on the nodes: the hub only submits and waits


def concurrent_starts(config: CoursehubConfig, machine: Machine) -> int:
    value = config.servers.concurrent_starts
    if value == "auto":
        return SLURM_AUTO_STARTS if config.spawn.backend == "slurm" else max(1, machine.cpu_count)
    return max(1, value)


def hub_address(config: CoursehubConfig) -> str:
    """This machine's address as the student servers reach it."""
    return config.spawn.slurm.hub_address if config.spawn.backend == "slurm" else "127.0.0.1"


def servers_via_proxy(config: CoursehubConfig) -> str | None:
    """The public proxy's URL when servers run elsewhere (Slurm nodes other than this
    machine): they reach the hub's API and the events API through it, as containers
    do, and the hub and service themselves stay on 127.0.0.1. None: servers run here."""
    address = hub_address(config)
    if config.spawn.backend != "slurm" or ipaddress.ip_address(address).is_loopback:
        return None
    return f"http://{url_host(address)}:{config.site.port}"


def url_host(address: str) -> str:
    """An IP address as the host part of a URL (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address else address


def forks_here(config: CoursehubConfig) -> bool:
    """Whether servers and kernels fork from templates on this machine."""
    return config.servers.start == "forked" and config.spawn.backend in ("local", "demo")


def translate(
    config: CoursehubConfig,
    layout: DataLayout,
    ports: Ports,
    secrets: HubSecrets,
    machine: Machine,
) -> dict[str, dict[str, Any]]:
    """JupyterHub configuration as {section: {trait: value}}."""
    site, servers = config.site, config.servers
    service_url = f"http://127.0.0.1:{ports.service}"
    db_url = coursehub_database_url(config, layout)
    if config.spawn.backend == "kubernetes":
        raise BackendElsewhere(
            "spawn.backend is kubernetes: the hub runs in the cluster, not here; write "
            "its settings with `coursehub k8s render OUTDIR` (docs/kubernetes.md)"
        )

    hub: dict[str, Any] = {
        "ip": site.bind_address,
        "port": site.port,
        "hub_ip": "127.0.0.1",
        "hub_port": ports.hub,
        "hub_connect_ip": "127.0.0.1",
        "db_url": hub_database_url(config, layout),
        "cookie_secret_file": str(layout.secret_file("cookie_secret")),
        "pid_file": str(layout.hub_pid_file),
        "data_files_path": None,
        "authenticator_class": AUTHENTICATORS[
            "github" if "github" in config.auth.methods else "local"
        ],
        "spawner_class": SPAWNERS[config.spawn.backend],
        # The proxy is started by `coursehub up`, outside the hub, so that a hub
        # restart keeps student servers and their routes alive.
        "cleanup_servers": False,
        "cleanup_proxy": False,
        # Starts beyond this are queued by our spawner rather than refused here.
        "concurrent_spawn_limit": servers.max_queued,
        "active_server_limit": 0,
        # A named server is a (student x course) server; the spawner refuses
        # names that are not courses the student is enrolled in.
        "allow_named_servers": True,
        "named_server_limit_per_user": 0,
        # Our login page lists every sign-in method the site offers.
        "template_paths": [str(HUB_TEMPLATES)],
        "template_vars": {
            # Shown above the login form (JupyterHub renders it as HTML: escape it).
            "announcement_login": html.escape(site.name),
            "coursehub_signin": {m: m in config.auth.methods for m in SIGNIN_METHODS},
            **FIRST_STEPS_TEMPLATE_VARS,
        },
        **FIRST_STEPS,
        "services": _services(config, layout, ports, secrets, machine, service_url, db_url),
        "load_roles": hub_roles(config),
        "shutdown_on_logout": False,
        # The service and CLI tokens are 256 random bits: JupyterHub need not stretch
        # them 16,384 times on every request as it does typed tokens (docs/security.md).
        # hub/bootstrap.py turns this off again if extra config adds tokens of its own.
        "trust_user_provided_tokens": all(
            looks_generated(t) for t in (secrets.service_token, secrets.cli_token)
        ),
    }
    hub.pop("data_files_path")
    if site.user_subdomains:
        # Users' servers at <user>.<host>; the proxy routes by host (ops/proxy.py) and
        # hub/bootstrap.py keeps the service at the hub's own host.
        hub["subdomain_host"] = subdomain_host(config)
    if site.frame_ancestors:
        hub["tornado_settings"] = _framed_hub_settings(config)

    spawner: dict[str, Any] = {
        "cmd": [machine.python, "-m", "coursehub.student.singleuser"],
        "default_url": servers.default_url,
        "start_timeout": servers.start_timeout,
        # Our spawner returns only once the server answers, so the hub's own wait is short.
        "http_timeout": 60,
        "poll_interval": 30,
        "mem_limit": servers.limits.memory,
        "cpu_limit": servers.limits.cpu,
        "environment": {
            "COURSEHUB_FRAME_ANCESTORS": " ".join(site.frame_ancestors),
            # course servers post notebook events here (the live class view)
            "COURSEHUB_EVENTS_URL": f"{service_url}/services/{SERVICE_NAME}/api/events",
            "COURSEHUB_LAB_SETTINGS_DIR": str(layout.lab_settings),
            # jupyter-lsp's search for language servers (servers.language_servers)
            "COURSEHUB_LANGUAGE_SERVERS": "1" if servers.language_servers else "",
            # nothing from the student's home runs in their server (student/lockdown.py)
            **SERVER_ENV,
        },
    }
    coursehub_spawner: dict[str, Any] = {
        "concurrent_starts": concurrent_starts(config, machine),
        "ready_timeout": servers.ready_timeout,
        "process_limit": servers.limits.processes or 0,
        "file_size_limit": servers.limits.file_size or 0,
        "log_dir": str(layout.server_logs),
        "coursehub_db_url": db_url,
        "data_dir": str(layout.root),
        # start-up hooks (hooks.dir: site/ and <course>/ as-root and as-user scripts)
        "hooks_dir": str(config.hooks.dir) if config.hooks.dir else "",
        "hooks_timeout": config.hooks.timeout,
        "start_method": servers.start,
        "template_socket": str(layout.server_template_socket),
        "template_log": str(layout.logs / "server-template.log"),
    }
    if config.spawn.backend in ("local", "slurm"):
        local = config.spawn.local
        coursehub_spawner.update(
            user_prefix=local.user_prefix,
            home_root=str(local.home_root),
            login_shell=local.shell,
        )
    else:
        coursehub_spawner.update(home_root=str(layout.demo_homes))

    authenticator: dict[str, Any] = {
        # Group membership comes from each sign-in; the role groups are created by
        # load_roles below.
        "manage_groups": True,
        # Our authenticators admit exactly the accounts they know.
        "any_allow_config": True,
        "auth_refresh_age": 60,
        "refresh_pre_spawn": True,
        # Only local accounts by name: the hub knows nothing of sign-in methods, and
        # our auth models decide admin rights at every sign-in anyway.
        "admin_users": local_admins(config),
    }
    sections: dict[str, dict[str, Any]] = {
        "JupyterHub": hub,
        "Spawner": spawner,
        "CoursehubSpawner": coursehub_spawner,
        "Authenticator": authenticator,
        "ConfigurableHTTPProxy": {
            "should_start": False,
            "api_url": f"http://127.0.0.1:{ports.proxy_api}",
            "auth_token": secrets.proxy_token,
            # nbgitpuller and nbhosting links teachers already published
            "extra_routes": proxy_routes(service_url, _route_host(config)),
        },
        **authenticator_sections(config, secrets, db_url),
    }
    if config.spawn.backend == "slurm":
        sections["CoursehubSlurmSpawner"] = slurm_spawner_settings(config, layout)
        via = servers_via_proxy(config)
        if via is not None:
            spawner["hub_connect_url"] = via
            spawner["environment"]["COURSEHUB_EVENTS_URL"] = (
                f"{via}/services/{SERVICE_NAME}/api/events"
            )
    if config.spawn.backend == "docker":
        from coursehub.config.translate.docker import docker_settings

        for section, values in docker_settings(config, layout).items():
            sections.setdefault(section, {}).update(values)
    return sections


def slurm_spawner_settings(config: CoursehubConfig, layout: DataLayout) -> dict[str, Any]:
    slurm = config.spawn.slurm
    per_course = {
        course: settings.slurm.model_dump(exclude_none=True)
        for course, settings in config.courses.settings.items()
        if settings.slurm is not None
    }
    return {
        "slurm_conf": str(slurm.conf) if slurm.conf else "",
        "slurm_bin_dir": str(slurm.bin_dir) if slurm.bin_dir else "",
        "partition": slurm.partition or "",
        "account": slurm.account or "",
        "qos": slurm.qos or "",
        "job_time": slurm.time or 0,
        "server_ip": slurm.server_ip,
        "sbatch_extra": list(slurm.options),
        "course_options": per_course,
        "jobs_dir": str(layout.slurm_jobs),
        "create_accounts": slurm.create_accounts,
    }


class BackendElsewhere(CoursehubError):
    """The configured backend does not run the hub on this machine."""

    exit_code = 2


def _framed_hub_settings(config: CoursehubConfig) -> dict[str, Any]:
    """Hub pages an LMS may show in an iframe (site.frame_ancestors)."""
    # JupyterHub's own pages refuse every frame by default; the sign-in and spawn
    # pages must show inside the LMS too when links are embedded there.
    settings: dict[str, Any] = {
        "headers": {
            "Content-Security-Policy": f"{frame_ancestors_directive(config)}; "
            "report-uri /hub/security/csp-report"
        }
    }
    if public_url(config).startswith("https://"):
        # Inside a cross-site iframe browsers send only SameSite=None cookies, which
        # must be Secure (so never on http). JupyterHub applies these to its login,
        # session and xsrf cookies, and passes them to student servers.
        settings["cookie_options"] = {"samesite": "None", "secure": True}
    return settings


def authenticator_sections(
    config: CoursehubConfig, secrets: HubSecrets, db_url: str
) -> dict[str, dict[str, Any]]:
    auth = config.auth
    common: dict[str, Any] = {
        "coursehub_db_url": db_url,
        "role_overrides": _role_overrides(config),
        "min_password_length": auth.min_password_length,
        "signin_methods": list(auth.methods),
    }
    if "jwt" in auth.methods and auth.jwt is not None:
        jwt = auth.jwt
        # Paths only: the hub reads (and checks) the key files when it starts.
        common.update(
            jwt_audience=jwt.audience,
            jwt_issuer=jwt.issuer or "",
            jwt_secret_file=str(jwt.secret_file or ""),
            jwt_public_key_file=str(jwt.public_key_file or ""),
            jwt_username_claim=jwt.username_claim,
            jwt_create_accounts=jwt.create_accounts,
        )
    out: dict[str, dict[str, Any]] = {"CoursehubAuthenticatorMixin": common}
    if "local" in auth.methods:
        out["PasswordSignInMixin"] = {
            "max_failed_logins": auth.max_failed_logins,
            "lockout_seconds": auth.lockout,
        }
    if "github" in auth.methods and auth.github is not None:
        gh = auth.github
        out["CoursehubGitHubAuthenticator"] = {
            "client_id": gh.client_id,
            "client_secret": secrets.github_client_secret or "",
            "oauth_callback_url": gh.callback_url or f"{public_url(config)}/hub/oauth_callback",
            "allowed_organizations": {gh.organization},
            "team_roles": dict(gh.team_roles),
            "team_courses": {
                team: [list(grant) for grant in grants]
                for team, grants in gh.course_grants().items()
            },
            "scope": ["read:org"],
            "populate_teams_in_auth_state": True,
        }
    return out


def _role_overrides(config: CoursehubConfig) -> dict[str, str]:
    """method:username -> role (a bare name in the roles section is local)."""
    overrides: dict[str, str] = {}
    # Later entries win: an admin listed as instructor too stays admin.
    for role in ("ta", "instructor", "admin"):
        for name in getattr(config.roles, role):
            method, username = signin_qualified(name)
            overrides[f"{method}:{username}"] = role
    return overrides


def local_admins(config: CoursehubConfig) -> set[str]:
    """The roles section's admins that are local accounts."""
    names = (signin_qualified(name) for name in config.roles.admin)
    return {username for method, username in names if method == "local"}


def _services(
    config: CoursehubConfig,
    layout: DataLayout,
    ports: Ports,
    secrets: HubSecrets,
    machine: Machine,
    service_url: str,
    db_url: str,
) -> list[dict[str, Any]]:
    services: list[dict[str, Any]] = [
        {
            "name": SERVICE_NAME,
            "url": service_url,
            "command": [machine.python, "-m", "coursehub.service"],
            "api_token": secrets.service_token,
            "oauth_no_confirm": True,
            "display": True,
            "environment": service_environment(config, layout, machine, db_url),
        },
        # Token-only service used by the coursehub CLI to manage users and servers.
        {"name": CLI_SERVICE_NAME, "api_token": secrets.cli_token},
    ]
    if culling_active(config):
        services.append(culler_service(config, machine.python, db_url))
    return services


def service_environment(
    config: CoursehubConfig, layout: DataLayout, machine: Machine, db_url: str
) -> dict[str, str]:
    """The coursehub service's own settings, as environment variables (no secrets)."""
    return {
        "COURSEHUB_SITE_NAME": config.site.name,
        "COURSEHUB_DATABASE_URL": db_url,
        "COURSEHUB_DATA_DIR": str(layout.root),
        "COURSEHUB_SPAWN_BACKEND": config.spawn.backend,
        "COURSEHUB_USER_PREFIX": config.spawn.local.user_prefix,
        "COURSEHUB_DEMO_HOME_ROOT": str(layout.demo_homes),
        "COURSEHUB_AUTOPULL_SECONDS": str(config.courses.autopull),
        "COURSEHUB_FRAME_ANCESTORS": " ".join(config.site.frame_ancestors),
        "COURSEHUB_EVENTS_RETENTION_SECONDS": str(config.events.retention),
        "COURSEHUB_EVENTS_RATE": str(config.events.rate),
        "COURSEHUB_EVENTS_BURST": str(config.events.burst),
        "COURSEHUB_EVENTS_MAX_STORED": str(config.events.max_stored),
        "COURSEHUB_GRADING": grading_settings(config, machine),
        "COURSEHUB_LTI": lti_settings(config),
        "COURSEHUB_OPS": ops_settings(config),
        "COURSEHUB_WARMUP": warmup_settings(config, machine).model_dump_json(),
        "COURSEHUB_LOG_FORMAT": config.site.log_format,
        "COURSEHUB_SUBDOMAIN_HOST": subdomain_host(config),
    }


def culler_service(config: CoursehubConfig, python: str, db_url: str = "") -> dict[str, Any]:
    """The hub-managed idle culler, with the per-course policy of `idle:`; with the
    coursehub database, where it learns which servers a warm-up asks it to spare."""
    environment = {
        "COURSEHUB_CULL_POLICY": cull_policy(config),
        "COURSEHUB_LOG_FORMAT": config.site.log_format,
    }
    if db_url:
        environment["COURSEHUB_DATABASE_URL"] = db_url
    return {
        "name": CULLER_SERVICE_NAME,
        "command": [
            python,
            "-m",
            "coursehub.ops.culler",
            f"--cull-every={config.idle.check_every}",
        ],
        "environment": environment,
    }


def cull_policy(config: CoursehubConfig) -> str:
    """The culler's policy as the JSON of COURSEHUB_CULL_POLICY (seconds; a course's
    null means the site's value)."""
    idle = config.idle
    return json.dumps(
        {
            "timeout": idle.timeout,
            "max_age": idle.max_age,
            "courses": {
                name: {"timeout": c.timeout, "max_age": c.max_age}
                for name, c in idle.courses.items()
            },
        },
        sort_keys=True,
    )


# Backends whose servers run on this machine, so that its memory bounds a warm-up.
SERVERS_HERE = ("local", "demo", "docker")


def warmup_settings(config: CoursehubConfig, machine: Machine) -> WarmupSection:
    """How warm-ups run (the service's COURSEHUB_WARMUP, and the command line's own)."""
    warmup = config.warmup
    github = config.auth.github if "github" in config.auth.methods else None
    teams: dict[str, list[str]] = {}
    for team, grants in (github.course_grants() if github else {}).items():
        for course, role in grants:
            if role == "student":
                teams.setdefault(course, []).append(team)
    return WarmupSection(
        lead=warmup.lead,
        unused_after=warmup.unused_after,
        reserve=warmup.reserve,
        server_memory=warmup.server_memory,
        kernel_memory=warmup.kernel_memory,
        concurrency=concurrent_starts(config, machine),
        start_timeout=config.servers.start_timeout,
        memory_bound=config.spawn.backend in SERVERS_HERE,
        signin_teams={course: sorted(names) for course, names in teams.items()},
    )


def culling_active(config: CoursehubConfig) -> bool:
    """Whether some server could be culled: the site's limits or any course's."""
    idle = config.idle
    if idle.timeout > 0 or idle.max_age > 0:
        return True
    return any((c.timeout or 0) > 0 or (c.max_age or 0) > 0 for c in idle.courses.values())


def ops_settings(config: CoursehubConfig) -> str:
    """The operations sections the service needs (monitor, runaway kernels, quota,
    metrics), as the JSON of COURSEHUB_OPS; durations in seconds, sizes in bytes."""
    idle = config.idle
    site = config.site
    host = "127.0.0.1" if site.bind_address in ("0.0.0.0", "::", "") else site.bind_address
    section = OpsSection(
        proxy_url=f"http://{host}:{site.port}",
        idle=IdleSection(
            timeout=idle.timeout,
            max_age=idle.max_age,
            runaway_after=idle.runaway_after,
            courses=idle.courses,
        ),
        stats=config.stats,
        quota_soft=config.quota.soft,
        metrics=config.metrics.enabled,
        hooks_dir=str(config.hooks.dir) if config.hooks.dir else "",
        hooks_timeout=config.hooks.timeout,
    )
    return section.model_dump_json()


def hub_roles(config: CoursehubConfig) -> list[dict[str, Any]]:
    students = ROLE_GROUPS["student"]
    roles: list[dict[str, Any]] = [
        {
            # Every signed-in user may use their own server and the coursehub pages.
            "name": "user",
            "scopes": ["self", f"access:services!service={SERVICE_NAME}"],
        },
        {
            # Student servers' own tokens: JupyterHub's defaults, plus posting notebook
            # events to the coursehub service.
            "name": "server",
            "scopes": [
                "users:activity!user",
                "access:servers!server",
                f"access:services!service={SERVICE_NAME}",
            ],
        },
        # Staff's own hub tokens (/hub/token, an LMS instructor's included) read no
        # student: the hub's groups are site roles, not courses, so any read scope would
        # reach every course's students. Staff pages read students through the service,
        # which checks the course role; the live class view shares one student's server
        # with one of its staff on demand (JupyterHub sharing). The roles stay, scoped
        # like `user`, so that their groups exist.
        {
            "name": "coursehub-instructor",
            "description": "Instructors: their own server and the coursehub pages.",
            "scopes": ["self"],
            "groups": [ROLE_GROUPS["instructor"]],
        },
        {
            "name": "coursehub-ta",
            "description": "Teaching assistants: their own server and the coursehub pages.",
            "scopes": ["self"],
            "groups": [ROLE_GROUPS["ta"]],
        },
        {
            "name": "coursehub-service",
            "description": "The coursehub service sees whether a student's servers run, "
            "and shares one with a course's staff member who asks to help.",
            "scopes": [
                "read:users:name",
                # the monitor lists running servers
                "list:users",
                "read:servers",
                # ... and asks each for its kernels with a token of the server's owner
                # that opens that one server (monitor/server_tokens.py): a student reads
                # every header their server gets, so no access:servers here. Admins'
                # servers are left out: a token of an admin could carry admin scopes.
                *(f"tokens!group={ROLE_GROUPS[r]}" for r in ("student", "ta", "instructor")),
                # the staff servers page stops students' servers (never removes them)
                f"delete:servers!group={students}",
                # warm-ups start students' course servers before a class
                f"start:servers!group={students}",
                "shares",
                "read:shares",
                "read:users:shares",
            ],
            "services": [SERVICE_NAME],
        },
        {
            "name": "coursehub-cli",
            "description": "The coursehub command line manages users and servers.",
            "scopes": [
                "admin:users",
                "admin:servers",
                "admin:groups",
                "list:users",
                "read:hub",
                # doctor: is the idle culler running?
                "read:services",
                "tokens",
                # taking someone out of a course revokes the live view's help shares
                "shares",
                "read:shares",
                "read:users:shares",
            ],
            "services": [CLI_SERVICE_NAME],
        },
    ]
    if culling_active(config):
        roles.append(
            {
                "name": "idle-culler",
                "description": "Stops idle servers.",
                "scopes": [
                    "list:users",
                    "read:users:activity",
                    "read:servers",
                    "delete:servers",
                ],
                "services": [CULLER_SERVICE_NAME],
            }
        )
    return roles
