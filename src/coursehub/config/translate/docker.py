"""spawn.backend docker: coursehub.yaml -> DockerSpawner settings. Pure.

Each (student x course) server is a container of the course's image, with a named
volume of its own as home, the course checkout bind-mounted read-only, the limits of
servers.limits, on the site's container network, removed when it stops (the volume
stays). Containers reach the hub's API and the events API through the public proxy.
"""

from __future__ import annotations

from typing import Any

from coursehub.config.containers import DockerSpawnConfig
from coursehub.config.layout import DataLayout
from coursehub.config.models import CoursehubConfig
from coursehub.core.roles import SERVICE_NAME
from coursehub.student.lockdown import SERVER_ENV

SPAWNER_CLASS = "coursehub.hub.spawners.docker.CoursehubDockerSpawner"
HOME = "/home/jovyan"  # uid 1000, gid 100, as in Jupyter's images and `course image`
COURSE_MOUNT = "/srv/coursehub/course"
SERVER_PORT = 8888
ENGINE_SOCKETS = {
    "docker": "unix:///var/run/docker.sock",
    "podman": "unix:///run/podman/podman.sock",
}
HOST_GATEWAY = "host.docker.internal"


def engine_url(docker: DockerSpawnConfig) -> str:
    return docker.url or ENGINE_SOCKETS[docker.engine]


def docker_settings(config: CoursehubConfig, layout: DataLayout) -> dict[str, dict[str, Any]]:
    """Sections to merge into the JupyterHub settings when spawn.backend is docker."""
    docker = config.spawn.docker
    assert docker is not None  # the config model requires it for this backend
    limits = config.servers.limits
    via = f"http://{docker.host_address}:{config.site.port}"
    host_config: dict[str, Any] = {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
    }
    if limits.processes:
        host_config["pids_limit"] = limits.processes
    if limits.file_size:
        host_config["ulimits"] = [
            {"Name": "fsize", "Soft": limits.file_size, "Hard": limits.file_size}
        ]
    if docker.host_address == HOST_GATEWAY:
        # Docker 20.10+ and Podman resolve host-gateway to this machine's address
        host_config["extra_hosts"] = {HOST_GATEWAY: "host-gateway"}
    # Docker: the proxy reaches containers on the network directly. Podman (rootless
    # too): through a port published on 127.0.0.1.
    internal_ip = docker.engine == "docker"
    return {
        "Spawner": {
            "cmd": ["python3", "-m", "coursehub.student.singleuser"],
            # the API through the public proxy: the hub itself stays on 127.0.0.1
            "hub_connect_url": via,
            "environment": {
                "COURSEHUB_FRAME_ANCESTORS": " ".join(config.site.frame_ancestors),
                "COURSEHUB_EVENTS_URL": f"{via}/services/{SERVICE_NAME}/api/events",
                "COURSEHUB_LANGUAGE_SERVERS": "1" if config.servers.language_servers else "",
                # nothing from the student's home runs in their server (student/lockdown.py)
                **SERVER_ENV,
            },
        },
        "DockerSpawner": {
            "image": docker.image,
            "allowed_images": [],  # students never choose an image
            "client_kwargs": {"base_url": engine_url(docker)},
            "network_name": docker.network,
            "use_internal_ip": internal_ip,
            "host_ip": "127.0.0.1",
            "port": SERVER_PORT,
            "prefix": "coursehub",
            "remove": True,
            "extra_host_config": host_config,
            "extra_create_kwargs": {"user": "1000:100", "working_dir": HOME},
        },
        "CoursehubDockerSpawner": {
            "coursehub_db_url": config.database.url or f"sqlite:///{layout.coursehub_db_file}",
            "data_dir": str(layout.root),
            "course_images": {
                name: s.image for name, s in sorted(config.courses.settings.items()) if s.image
            },
            "volume_name_template": docker.volume_name,
            "home_path": HOME,
            "course_mount_path": COURSE_MOUNT,
        },
    }
