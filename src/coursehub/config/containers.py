"""coursehub.yaml sections of the container backends: spawn.kubernetes, spawn.docker.

Only their shape lives here; what each becomes is in coursehub.config.translate: helm
and k8s_manifests (values and manifests for a cluster), docker (DockerSpawner settings).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coursehub.config.units import Size

# [registry[:port]/]path[:tag][@sha256:digest], as Docker and Kubernetes read them.
IMAGE_RE = re.compile(
    r"^(?:(?P<registry>[A-Za-z0-9.-]+(?::\d{1,5})?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DNS_NAME_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)
LABEL_KEY_RE = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
DOCKER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def check_image_reference(value: str) -> str:
    """`value` if it is a container image reference, else a ValueError saying why."""
    match = IMAGE_RE.match(value)
    if not match:
        raise ValueError(
            "not an image reference: expected e.g. "
            "registry.example.edu/courses/ds101:2025-09 (lower-case name, optional "
            ":tag or @sha256:digest, no spaces)"
        )
    if not match["tag"] and not match["digest"]:
        raise ValueError(
            f"no tag: add one, e.g. {value}:2025-09, so that servers do not "
            "change image when someone pushes :latest"
        )
    return value


class _Section(BaseModel):
    # A size or duration whose default is written as in coursehub.yaml ("2G", "10m")
    # also passes validate_default=True to its Field: the same validation as here, and
    # it tells type checkers that the default is parsed into the field's type.
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Resources(_Section):
    memory: Size = Field(
        "1G", validate_default=True, description="Memory limit (and request) of the pod, e.g. 1G."
    )
    cpu: float = Field(1.0, gt=0, le=64, description="CPU limit of the pod in cores, e.g. 0.5.")


class KubernetesStorageConfig(_Section):
    storage_class: str | None = Field(
        None,
        description="StorageClass of the students' volumes (empty: the cluster's default).",
    )
    size: Size = Field(
        "10G",
        validate_default=True,
        description="Size of each student's volume, one per (student x course).",
    )
    course_data_storage_class: str | None = Field(
        None,
        description="StorageClass of the course-data volume. It is written by the coursehub "
        "service and read by every student pod, so it must offer ReadWriteMany (NFS, "
        "CephFS, Azure Files, EFS...); empty: the cluster's default.",
    )
    course_data_size: Size = Field(
        "20G",
        validate_default=True,
        description="Size of the course-data volume (every course's checkout).",
    )

    @field_validator("storage_class", "course_data_storage_class")
    @classmethod
    def _class_name(cls, v: str | None) -> str | None:
        if v is not None and not DNS_NAME_RE.match(v):
            raise ValueError(
                "not a StorageClass name: expected lower-case letters, digits, "
                "'-' and '.' (see `kubectl get storageclass`)"
            )
        return v


class IngressConfig(_Section):
    host: str | None = Field(
        None,
        description="Host name students use (e.g. hub.example.edu); empty: no Ingress, "
        "reach the hub through the proxy-public Service.",
    )
    tls_secret: str | None = Field(
        None,
        description="Secret of type kubernetes.io/tls holding the host's certificate "
        "(e.g. made by cert-manager); empty: plain http behind the Ingress.",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        if v is not None and not DNS_NAME_RE.match(v):
            raise ValueError("not a host name: expected e.g. hub.example.edu")
        return v

    @field_validator("tls_secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        if v is not None and not DNS_NAME_RE.match(v):
            raise ValueError("not a Secret name: expected lower-case letters, digits, '-', '.'")
        return v


class KubernetesSpawnConfig(_Section):
    namespace: str = Field(
        "coursehub", description="Namespace the hub, the service and student pods run in."
    )
    release: str = Field(
        "coursehub", description="Helm release name of the Zero-to-JupyterHub chart."
    )
    hub_image: str = Field(
        ...,
        description="Image of the hub and the coursehub service: the chart's hub image "
        "with coursehub installed (`coursehub k8s render` writes its Containerfile), "
        "e.g. registry.example.edu/coursehub-hub:0.1.0.",
    )
    image: str = Field(
        ...,
        description="Image of student servers of courses without courses.settings.<course>"
        ".image (make one with `coursehub course image`).",
    )
    database_url: str | None = Field(
        None,
        description="PostgreSQL URL as seen from inside the cluster, without the password "
        "(it is read from a Kubernetes Secret), e.g. postgresql://coursehub@db.example.edu"
        ":5432/coursehub. Empty: database.url. SQLite is not possible: the hub and the "
        "service run in different pods.",
    )
    storage: KubernetesStorageConfig = Field(default_factory=KubernetesStorageConfig)
    hub_resources: Resources = Field(
        default_factory=lambda: Resources(memory="1G", cpu=1.0),
        description="Memory and CPU of the hub pod.",
    )
    service_resources: Resources = Field(
        default_factory=lambda: Resources(memory="1G", cpu=1.0),
        description="Memory and CPU of the coursehub service pod.",
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="Node labels student pods must have, e.g. {pool: students}.",
    )
    ingress: IngressConfig = Field(default_factory=IngressConfig)

    @field_validator("namespace", "release")
    @classmethod
    def _dns_label(cls, v: str) -> str:
        if not DNS_LABEL_RE.match(v):
            raise ValueError(
                "expected 1-63 lower-case letters, digits or '-', "
                "starting and ending with a letter or digit"
            )
        return v

    @field_validator("hub_image", "image")
    @classmethod
    def _image(cls, v: str) -> str:
        return check_image_reference(v)

    @field_validator("database_url")
    @classmethod
    def _database(cls, v: str | None) -> str | None:
        if v is None:
            return v
        return check_cluster_database_url(v)

    @field_validator("node_selector")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not LABEL_KEY_RE.match(key) or not LABEL_VALUE_RE.match(str(value)):
                raise ValueError(
                    f"{key}: {value!r} is not a node label: keys like pool or "
                    "example.edu/pool, values of up to 63 letters, digits, '-', '_', '.'"
                )
        return v


def check_cluster_database_url(url: str) -> str:
    """A PostgreSQL URL without a password, else a ValueError saying how to fix it."""
    if not re.match(r"^postgresql(\+\w+)?://", url):
        raise ValueError(
            "the kubernetes backend needs PostgreSQL: expected postgresql://user@host:5432/db "
            "(SQLite cannot be shared by the hub and the service pods)"
        )
    parts = urlsplit(url)
    if parts.password:
        raise ValueError(
            "keep the password out of coursehub.yaml: write the URL without it and create "
            "the Secret printed by `coursehub k8s render`"
        )
    if not parts.hostname or not parts.path.strip("/"):
        raise ValueError("expected postgresql://user@host:5432/dbname (host and database name)")
    return url


class DockerSpawnConfig(_Section):
    engine: Literal["docker", "podman"] = Field(
        "docker",
        description="docker: the Docker Engine. podman: Podman's Docker-compatible API "
        "(`systemctl enable --now podman.socket`).",
    )
    url: str | None = Field(
        None,
        description="Where the engine's API listens. Empty: unix:///var/run/docker.sock "
        "for docker, unix:///run/podman/podman.sock for podman.",
    )
    network: str = Field(
        "coursehub",
        description="Container network the student containers join (created by `docker "
        "network create coursehub`; docs/containers.md).",
    )
    image: str = Field(
        ...,
        description="Image of student servers of courses without courses.settings.<course>"
        ".image (make one with `coursehub course image`).",
    )
    volume_name: str = Field(
        "coursehub-{username}-{course}",
        description="Name of each student's volume, one per (student x course); must use "
        "{username} and {course}.",
    )
    host_address: str = Field(
        "host.docker.internal",
        description="Name or address of this machine as containers see it (they reach the "
        "hub and the events API through the public proxy there).",
    )

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return check_image_reference(v)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(unix|tcp|ssh|https?)://\S+$", v):
            raise ValueError("expected unix:///path/to.sock, tcp://host:2376 or ssh://user@host")
        return v

    @field_validator("network")
    @classmethod
    def _network(cls, v: str) -> str:
        if not DOCKER_NAME_RE.match(v) or v in {"host", "none"}:
            raise ValueError(
                "name a bridge network of your own (letters, digits, "
                "'_', '.', '-'); host and none give no isolation or no hub"
            )
        return v

    @field_validator("volume_name")
    @classmethod
    def _volume_name(cls, v: str) -> str:
        if "{username}" not in v or "{course}" not in v:
            raise ValueError(
                "must contain {username} and {course}, e.g. coursehub-{username}-{course}: "
                "otherwise students or courses would share a volume"
            )
        sample = v.replace("{username}", "alice").replace("{course}", "ds101")
        if not DOCKER_NAME_RE.match(sample):
            raise ValueError(
                "a volume name is letters, digits, '_', '.', '-' around {username} and {course}"
            )
        return v

    @field_validator("host_address")
    @classmethod
    def _host(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9.:-]{1,253}$", v):
            raise ValueError("expected a host name or an IP address")
        return v
