"""spawn.backend docker: what coursehub.yaml becomes for DockerSpawner (14.x, the real
one), down to the body of the Docker Engine API request that creates a student's
container.

No container engine runs here. The settings come from the real translation, the
spawner is DockerSpawner itself (with coursehub's subclass) and the request body is
built by docker-py's own APIClient; only its final HTTP POST to /containers/create
is caught, and the test reads the body it would have sent. Enrolments live in a real
SQLite coursehub database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyterhub import orm
from jupyterhub.objects import Hub
from tornado import web
from traitlets.config import Config

from coursehub.config.layout import DataLayout, Ports
from coursehub.config.loader import load_config
from coursehub.config.translate.jupyterhub import HubSecrets, Machine, translate
from coursehub.core.errors import ConfigError
from coursehub.db.session import Database
from coursehub.hub.spawners.docker import CoursehubDockerSpawner

SITE = """\
site: {bind_address: 0.0.0.0, port: 8000}
servers:
  limits: {memory: 1G, cpu: 1.5, processes: 256, file_size: 100M}
courses:
  settings:
    ds101: {image: "registry.example.edu/courses/ds101:2025-09"}
spawn:
  backend: docker
  docker:
    image: "registry.example.edu/courses/base:2025-09"
    network: coursehub-net
"""


@dataclass
class Group:
    name: str


@dataclass
class HubUser:
    """Stands in for JupyterHub's User: the spawner reads name, admin, groups, url."""

    name: str
    admin: bool = False
    groups: list[Group] = field(default_factory=lambda: [Group("coursehub-students")])
    id: int = 3

    @property
    def url(self) -> str:
        return f"/user/{self.name}/"


def _settings(tmp_path: Path, text: str = SITE) -> dict[str, dict[str, Any]]:
    (tmp_path / "coursehub.yaml").write_text(text)
    config = load_config(tmp_path / "coursehub.yaml").config
    return translate(
        config,
        DataLayout(config.site.data_dir),
        Ports(hub=18081, proxy_api=18001, service=18090),
        HubSecrets("p", "s", "c"),
        Machine(python="/venv/bin/python", cpu_count=2),
    )


@pytest.fixture
def site(tmp_path: Path, alice_courses: Callable[[str, Path], Database]) -> Config:
    """Translated settings of SITE, with ds101 and lab (alice enrolled in both)."""
    settings = _settings(tmp_path)
    (tmp_path / "coursehub-data").mkdir()
    spawner = settings["CoursehubDockerSpawner"]
    alice_courses(spawner["coursehub_db_url"], Path(spawner["data_dir"]))
    config = Config()
    for section, values in settings.items():
        for key, value in values.items():
            setattr(config[section], key, value)
    # no engine to ask for its API version: name one (Docker 24's)
    config.DockerSpawner.client_kwargs = {**config.DockerSpawner.client_kwargs, "version": "1.43"}
    return config


def _spawner(config: Config, user: HubUser, server: str) -> CoursehubDockerSpawner:
    spawner = CoursehubDockerSpawner(
        config=config,
        user=user,
        orm_spawner=orm.Spawner(name=server),
        hub=Hub(ip="127.0.0.1", port=18081, base_url="/hub/"),  # as JupyterHub makes it
    )
    spawner.api_token = "server-token"
    return spawner


async def _create_request(spawner: CoursehubDockerSpawner) -> dict[str, Any]:
    """The body DockerSpawner would POST to the engine's /containers/create."""
    sent: dict[str, Any] = {}

    def capture(config: dict, name: str, platform: str | None = None) -> dict:
        sent.update(config, Name=name)
        return {"Id": "not-created"}

    spawner.client.create_container_from_config = capture  # the engine's HTTP call
    await spawner.prepare_course()
    await spawner.create_object()
    return sent


async def test_a_students_course_container(site: Config, tmp_path: Path) -> None:
    spawner = _spawner(site, HubUser("alice"), "ds101")
    body = await _create_request(spawner)
    host = body["HostConfig"]
    assert body["Image"] == "registry.example.edu/courses/ds101:2025-09"
    assert body["Name"] == "coursehub-alice--ds101"
    assert body["Cmd"][:3] == ["python3", "-m", "coursehub.student.singleuser"]
    assert body["User"] == "1000:100"  # never root, whatever the image says
    # one volume per (student x course) as home; the course checkout read-only
    repo = tmp_path / "coursehub-data" / "courses" / "ds101" / "repo"
    assert sorted(host["Binds"]) == sorted(
        ["coursehub-alice-ds101:/home/jovyan:rw", f"{repo}:/srv/coursehub/course:ro"]
    )
    # servers.limits
    assert host["Memory"] == 1024**3
    assert host["CpuQuota"] == 150_000 and host["CpuPeriod"] == 100_000
    assert host["PidsLimit"] == 256
    assert host["Ulimits"] == [{"Name": "fsize", "Soft": 100 * 1024**2, "Hard": 100 * 1024**2}]
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
    # removed when it stops (the volume stays), on the site's own network
    assert host["AutoRemove"] is True
    assert host["NetworkMode"] == "coursehub-net"
    assert host["ExtraHosts"] == ["host.docker.internal:host-gateway"]
    env = dict(item.split("=", 1) for item in body["Env"])
    assert env["COURSEHUB_COURSE"] == "ds101"
    # where the server's workspace extension finds the course: its read-only mount
    assert env["COURSEHUB_COURSE_DIR"] == "/srv/coursehub/course"
    # the hub's API and the events API through the public proxy, not the loopback
    assert env["JUPYTERHUB_API_URL"] == "http://host.docker.internal:8000/hub/api"
    assert env["COURSEHUB_EVENTS_URL"] == (
        "http://host.docker.internal:8000/services/coursehub/api/events"
    )
    assert env["JUPYTERHUB_API_TOKEN"] == "server-token"


async def test_other_course_other_volume_and_the_default_image(site: Config) -> None:
    body = await _create_request(_spawner(site, HubUser("alice"), "lab"))
    assert body["Image"] == "registry.example.edu/courses/base:2025-09"
    assert "coursehub-alice-lab:/home/jovyan:rw" in body["HostConfig"]["Binds"]
    # a student's default server has a home volume of its own and no course
    body = await _create_request(_spawner(site, HubUser("bob"), ""))
    assert body["HostConfig"]["Binds"] == ["coursehub-bob-_default:/home/jovyan:rw"]
    assert "COURSEHUB_COURSE" not in "".join(body["Env"])


async def test_not_enrolled_no_container_and_no_image_from_the_request(site: Config) -> None:
    spawner = _spawner(site, HubUser("bob"), "ds101")
    with pytest.raises(web.HTTPError) as info:
        await _create_request(spawner)
    assert info.value.status_code == 403
    assert "not enrolled in 'ds101'" in info.value.jupyterhub_message
    spawner = _spawner(site, HubUser("alice"), "lab")
    spawner.user_options = {"image": "evil/miner:latest"}
    body = await _create_request(spawner)
    assert body["Image"] == "registry.example.edu/courses/base:2025-09"


def test_podman_publishes_on_loopback_and_uses_its_socket(tmp_path: Path) -> None:
    text = SITE.replace("network: coursehub-net", "network: coursehub-net\n    engine: podman")
    docker = _settings(tmp_path, text)["DockerSpawner"]
    assert docker["client_kwargs"] == {"base_url": "unix:///run/podman/podman.sock"}
    assert docker["use_internal_ip"] is False and docker["host_ip"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (SITE.replace("site: {bind_address: 0.0.0.0, port: 8000}\n", ""), "", "site.bind_address"),
        (SITE.replace("network: coursehub-net", "network: host"), "spawn.docker.network", "bridge"),
        (
            SITE.replace("network: coursehub-net", "volume_name: home-{username}"),
            "spawn.docker.volume_name",
            "{username} and {course}",
        ),
        (
            SITE.replace("engine: podman", "") + "    engine: lxc\n",
            "spawn.docker.engine",
            "'docker'",
        ),
        (SITE.replace(':2025-09"}', '"}'), "courses.settings.ds101.image", "no tag"),
        (SITE.split("  docker:")[0], "spawn", "add a spawn.docker section"),
    ],
)
def test_bad_docker_settings_name_the_key_and_the_fix(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    (tmp_path / "coursehub.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "coursehub.yaml")
    problems = "\n".join(str(p) for p in info.value.problems)
    assert key in problems and message in problems
