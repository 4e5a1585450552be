"""coursehub.yaml -> values.yaml of the Zero-to-JupyterHub Helm chart (4.x). Pure.

Secrets never appear here: the chart makes the hub's own (cookie secret, proxy and
service tokens) in its Secret `hub`; the database password, the GitHub client
secret and key files come from Secrets the admin creates once (see secrets.py).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from coursehub.config.containers import KubernetesSpawnConfig
from coursehub.config.layout import DataLayout
from coursehub.config.models import CoursehubConfig
from coursehub.config.translate import k8s_names as names
from coursehub.config.translate.jupyterhub import (
    AUTHENTICATORS,
    CLI_SERVICE_NAME,
    CULLER_SERVICE_NAME,
    FIRST_STEPS,
    FIRST_STEPS_TEMPLATE_VARS,
    SIGNIN_METHODS,
    HubSecrets,
    Machine,
    authenticator_sections,
    culler_service,
    frame_ancestors_directive,
    hub_roles,
    local_admins,
    public_url,
)
from coursehub.core.errors import CoursehubError
from coursehub.core.legacy_paths import proxy_routes
from coursehub.core.roles import SERVICE_NAME
from coursehub.student.lockdown import SERVER_ENV

SPAWNER_CLASS = "coursehub.hub.spawners.kubernetes.CoursehubKubeSpawner"
# JupyterHub finds coursehub's login page inside the hub image's coursehub package.
TEMPLATES_SNIPPET = (
    "import os, coursehub.hub\n"
    "c.JupyterHub.template_paths = "
    '[os.path.join(os.path.dirname(coursehub.hub.__file__), "templates")]\n'
)


class NotKubernetes(CoursehubError):
    """`coursehub k8s render` needs spawn.backend: kubernetes."""

    exit_code = 2


def kubernetes_section(config: CoursehubConfig) -> KubernetesSpawnConfig:
    k8s = config.spawn.kubernetes
    if config.spawn.backend != "kubernetes" or k8s is None:
        raise NotKubernetes(
            "spawn.backend is "
            f"{config.spawn.backend}: set spawn.backend: kubernetes and a spawn.kubernetes "
            "section (hub_image, image, database_url) in coursehub.yaml first "
            "(docs/kubernetes.md)"
        )
    return k8s


def cluster_database_url(config: CoursehubConfig) -> str:
    """The PostgreSQL URL pods use, never with a password in it."""
    k8s = kubernetes_section(config)
    url = k8s.database_url or config.database.url or ""
    return re.sub(r"^([^:/]+://[^:/@]+):[^@/]*@", r"\1@", url)


def quantity(n: int) -> str:
    """Bytes as a Kubernetes quantity in binary units (2G in coursehub.yaml is 2Gi)."""
    for unit, factor in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)


def service_cpus(k8s: KubernetesSpawnConfig) -> int:
    """CPUs of the service pod: how many submissions it grades at once with `auto`."""
    return max(1, math.floor(k8s.service_resources.cpu))


def helm_values(config: CoursehubConfig) -> dict[str, Any]:
    """The chart's values for this site."""
    k8s = kubernetes_section(config)
    values: dict[str, Any] = {
        "fullnameOverride": "",
        "hub": _hub(config, k8s),
        "proxy": {
            "service": {"type": "ClusterIP" if k8s.ingress.host else "LoadBalancer"},
        },
        "singleuser": _singleuser(config, k8s),
        "cull": _cull(config),
        "scheduling": {"userScheduler": {"enabled": True}},
    }
    if k8s.ingress.host:
        ingress: dict[str, Any] = {"enabled": True, "hosts": [k8s.ingress.host]}
        if k8s.ingress.tls_secret:
            ingress["tls"] = [{"hosts": [k8s.ingress.host], "secretName": k8s.ingress.tls_secret}]
        values["ingress"] = ingress
    return _plain(values)


def _plain(value: Any) -> Any:
    """Only what YAML and Helm know: sets (JupyterHub's allow-lists) become lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    return value


def _hub(config: CoursehubConfig, k8s: KubernetesSpawnConfig) -> dict[str, Any]:
    db_url = cluster_database_url(config)
    name, tag = names.split_image(k8s.hub_image)
    env: dict[str, Any] = {
        # libpq reads the password from here; optional, for databases without one
        "PGPASSWORD": _secret_ref(names.DB_SECRET, "password", optional=True),
    }
    if "github" in config.auth.methods:
        # OAuthenticator's client_secret default (kept out of hub.config)
        env["OAUTH_CLIENT_SECRET"] = _secret_ref(names.GITHUB_SECRET, "client-secret")
    hub: dict[str, Any] = {
        "image": {"name": name, "tag": tag},
        "resources": _resources(k8s.hub_resources.memory, k8s.hub_resources.cpu),
        "db": {"type": "postgres", "url": db_url},
        "extraEnv": env,
        "config": _hub_config(config, db_url),
        "services": _hub_services(config),
        "loadRoles": _load_roles(config),
        "extraConfig": {"coursehub-templates": TEMPLATES_SNIPPET},
        "networkPolicy": {"enabled": True},
    }
    if _key_files(config):
        hub["extraVolumes"] = [
            {"name": "coursehub-keys", "secret": {"secretName": names.KEYS_SECRET}}
        ]
        hub["extraVolumeMounts"] = [
            {"name": "coursehub-keys", "mountPath": names.SECRETS_DIR, "readOnly": True}
        ]
    return hub


def _hub_config(config: CoursehubConfig, db_url: str) -> dict[str, Any]:
    site = config.site
    tornado: dict[str, Any] = {"slow_spawn_timeout": 0}  # the chart's own setting, kept
    if site.frame_ancestors:
        tornado["headers"] = {
            "Content-Security-Policy": f"{frame_ancestors_directive(config)}; "
            "report-uri /hub/security/csp-report"
        }
        if public_url(config).startswith("https://"):
            tornado["cookie_options"] = {"samesite": "None", "secure": True}
    sections: dict[str, Any] = {
        "JupyterHub": {
            "authenticator_class": AUTHENTICATORS[
                "github" if "github" in config.auth.methods else "local"
            ],
            "spawner_class": SPAWNER_CLASS,
            # a named server is a (student x course) server; the spawner checks enrolment
            "allow_named_servers": True,
            "named_server_limit_per_user": 0,
            "shutdown_on_logout": False,
            "template_vars": {
                "announcement_login": _escape(site.name),
                "coursehub_signin": {m: m in config.auth.methods for m in SIGNIN_METHODS},
                **FIRST_STEPS_TEMPLATE_VARS,
            },
            **FIRST_STEPS,
            "tornado_settings": tornado,
        },
        "Authenticator": {
            "manage_groups": True,
            "any_allow_config": True,
            "auth_refresh_age": 60,
            "refresh_pre_spawn": True,
            "admin_users": sorted(local_admins(config)),
        },
        # nbgitpuller and nbhosting links teachers already published
        "ConfigurableHTTPProxy": {
            "extra_routes": proxy_routes(f"http://{SERVICE_NAME}:{names.SERVICE_PORT}")
        },
        "CoursehubKubeSpawner": {
            "coursehub_db_url": db_url,
            "course_data_claim": names.COURSES_CLAIM,
            "course_mount_path": names.COURSE_MOUNT,
        },
    }
    no_secrets = HubSecrets("", "", "", None)
    for section, settings in authenticator_sections(config, no_secrets, db_url).items():
        settings = dict(settings)
        settings.pop("client_secret", None)  # from OAUTH_CLIENT_SECRET (a Secret)
        if "jwt_secret_file" in settings:
            settings["jwt_secret_file"] = (
                f"{names.SECRETS_DIR}/jwt-secret" if settings["jwt_secret_file"] else ""
            )
            settings["jwt_public_key_file"] = (
                f"{names.SECRETS_DIR}/jwt-public-key.pem" if settings["jwt_public_key_file"] else ""
            )
        sections[section] = settings
    return sections


def _hub_services(config: CoursehubConfig) -> dict[str, Any]:
    # No apiToken here: the chart generates one per service into its Secret `hub`.
    services: dict[str, Any] = {
        SERVICE_NAME: {
            "url": f"http://{SERVICE_NAME}:{names.SERVICE_PORT}",
            "oauth_no_confirm": True,
            "display": True,
            "oauth_client_id": f"service-{SERVICE_NAME}",
        }
    }
    # token-only, like on one machine: its role (coursehub-cli) must name a service
    # that exists or the hub refuses to start; the token is in the chart's Secret
    services[CLI_SERVICE_NAME] = {}
    if _per_course_culling(config):
        culler = culler_service(config, "python3")
        culler.pop("name")
        services[CULLER_SERVICE_NAME] = culler
    return services


def _load_roles(config: CoursehubConfig) -> dict[str, Any]:
    roles = {}
    for role in hub_roles(config):
        if role["name"] == "idle-culler" and not _per_course_culling(config):
            continue  # the chart's own culler has its own role
        roles[role["name"]] = role
    return roles


def _per_course_culling(config: CoursehubConfig) -> bool:
    """Per-course idle limits need coursehub's culler; otherwise the chart's is used."""
    return any(c.timeout is not None or c.max_age is not None for c in config.idle.courses.values())


def _cull(config: CoursehubConfig) -> dict[str, Any]:
    idle = config.idle
    enabled = (idle.timeout > 0 or idle.max_age > 0) and not _per_course_culling(config)
    return {
        "enabled": enabled,
        "timeout": idle.timeout,
        "maxAge": idle.max_age,
        "every": idle.check_every,
        # a course server is a named server: stop it, keep it (and its volume)
        "removeNamedServers": False,
        "users": False,
    }


def _singleuser(config: CoursehubConfig, k8s: KubernetesSpawnConfig) -> dict[str, Any]:
    limits = config.servers.limits
    name, tag = names.split_image(k8s.image)
    storage = k8s.storage
    single: dict[str, Any] = {
        "image": {"name": name, "tag": tag},
        "cmd": ["python3", "-m", "coursehub.student.singleuser"],
        "defaultUrl": config.servers.default_url,
        "startTimeout": config.servers.start_timeout,
        "uid": names.STUDENT_UID,
        "fsGid": names.STUDENT_GID,
        "storage": {
            "type": "dynamic",
            "capacity": quantity(storage.size),
            "homeMountPath": names.HOME,
            "dynamic": {
                "storageClass": storage.storage_class,
                # one volume per (student x course), as the course workspaces on one machine
                "pvcNameTemplate": "claim-{user_server}",
                "volumeNameTemplate": "home",
                "storageAccessModes": ["ReadWriteOnce"],
            },
            "extraVolumes": [
                {
                    "name": names.COURSE_VOLUME,
                    "persistentVolumeClaim": {"claimName": names.COURSES_CLAIM, "readOnly": True},
                }
            ],
        },
        "extraEnv": {
            # through the proxy: student pods never reach the service's own port
            "COURSEHUB_EVENTS_URL": f"{names.PROXY_PUBLIC_URL}/services/{SERVICE_NAME}/api/events",
            "COURSEHUB_FRAME_ANCESTORS": " ".join(config.site.frame_ancestors),
            "COURSEHUB_LANGUAGE_SERVERS": "1" if config.servers.language_servers else "",
            # nothing from the student's home runs in their server (student/lockdown.py)
            **SERVER_ENV,
        },
        "networkPolicy": {
            "enabled": True,
            # no other pod in the cluster (service, database, other students)
            "egressAllowRules": {"privateIPs": False, "cloudMetadataServer": False},
        },
        "profileList": _profiles(config, k8s),
    }
    if limits.memory:
        single["memory"] = {"limit": limits.memory, "guarantee": limits.memory}
    if limits.cpu:
        # CPU is shared when idle: request a quarter, cap at the limit
        single["cpu"] = {"limit": limits.cpu, "guarantee": round(limits.cpu / 4, 3)}
    if k8s.node_selector:
        single["nodeSelector"] = dict(k8s.node_selector)
    return single


def _profiles(config: CoursehubConfig, k8s: KubernetesSpawnConfig) -> list[dict[str, Any]]:
    """A default profile plus one per course with an image of its own.

    The course's profile is chosen by the spawner from the server's name (the
    course), after it has checked the student is enrolled: students never pick one.
    """
    profiles: list[dict[str, Any]] = [
        {
            "display_name": "Default environment",
            "slug": "default",
            "default": True,
            "kubespawner_override": {"image": k8s.image},
        }
    ]
    for course, settings in sorted(config.courses.settings.items()):
        if settings.image:
            profiles.append(
                {
                    "display_name": course,
                    "slug": course,
                    "kubespawner_override": {"image": settings.image},
                }
            )
    return profiles


def service_layout() -> DataLayout:
    return DataLayout(Path(names.DATA_DIR))


def service_machine(config: CoursehubConfig) -> Machine:
    return Machine(python="python3", cpu_count=service_cpus(kubernetes_section(config)))


def _key_files(config: CoursehubConfig) -> bool:
    return "jwt" in config.auth.methods and config.auth.jwt is not None


def _resources(memory: int, cpu: float) -> dict[str, Any]:
    return {
        "requests": {"memory": quantity(memory), "cpu": str(cpu)},
        "limits": {"memory": quantity(memory), "cpu": str(cpu)},
    }


def _secret_ref(name: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": name, "key": key}
    if optional:
        ref["optional"] = True
    return {"valueFrom": {"secretKeyRef": ref}}


def _escape(text: str) -> str:
    import html

    return html.escape(text)
