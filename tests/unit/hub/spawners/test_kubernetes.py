"""The pod KubeSpawner (7.x, the real one) makes for a student's course server, from
the values `coursehub k8s render` writes, turned into hub settings key by key as the
Zero-to-JupyterHub chart documents them (tests/helpers/chart_values.py, our own
mapping of the keys coursehub writes, not the chart's code).

No cluster is reachable here. KubeSpawner is built with its `_mock=True` test hook,
which stands in a placeholder hub object (the spawner only reads URLs from it), and
with a kubeconfig naming an address where nothing listens: building a pod manifest
never calls the cluster. The server's name comes from a (session-less) JupyterHub
ORM Spawner row, as the hub passes it. The user is a small stand-in for JupyterHub's User (name,
admin flag, groups). Enrolments live in a real SQLite coursehub database here; in the
cluster it is the PostgreSQL named in the values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_asyncio.config.kube_config as kube_config
import kubernetes_validate
import pytest
from jupyterhub import orm
from kubernetes_asyncio.client import ApiClient
from tornado import web

from coursehub.config.translate.helm import helm_values
from coursehub.db.session import Database
from coursehub.hub.spawners.kubernetes import CoursehubKubeSpawner
from tests.helpers.chart_values import hub_settings
from tests.helpers.k8s_site import load_site

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: unused}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


@dataclass
class Group:
    name: str


@dataclass
class HubUser:
    name: str
    admin: bool = False
    groups: list[Group] = field(default_factory=lambda: [Group("coursehub-students")])
    id: int = 7

    @property
    def url(self) -> str:
        return f"/user/{self.name}/"


@pytest.fixture
def db_url(db_url: str, tmp_path: Path, alice_courses: Callable[[str, Path], Database]) -> str:
    """A coursehub database with course ds101 (alice enrolled) and course lab (alice
    enrolled, no image of its own); bob is enrolled nowhere."""
    alice_courses(db_url, tmp_path / "data")
    return db_url


@pytest.fixture
def spawner_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Any:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    # read when kubernetes_asyncio is imported, so set where it keeps it
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    values = helm_values(load_site(tmp_path).config)
    config = hub_settings(values, namespace="physics")
    assert config.CoursehubKubeSpawner.coursehub_db_url.startswith("postgresql://")
    config.CoursehubKubeSpawner.coursehub_db_url = db_url  # the test's database
    return config


def _spawner(config: Any, user: HubUser, server: str) -> CoursehubKubeSpawner:
    row = orm.Spawner(name=server)
    return CoursehubKubeSpawner(config=config, user=user, orm_spawner=row, _mock=True)


async def _pod(config: Any, user: HubUser, server: str) -> tuple[dict, CoursehubKubeSpawner]:
    spawner = _spawner(config, user, server)
    await spawner.load_user_options()
    return await _plain(await spawner.get_pod_manifest()), spawner


async def _plain(obj: Any) -> dict:
    """A kubernetes_asyncio model as the JSON the API server would receive."""
    async with ApiClient() as client:
        return client.sanitize_for_serialization(obj)


def _mounts(container: dict) -> dict[str, dict]:
    return {m["mountPath"]: m for m in container["volumeMounts"]}


async def test_student_pod_for_a_course(spawner_config: Any) -> None:
    pod, spawner = await _pod(spawner_config, HubUser("alice"), "ds101")
    spec = pod["spec"]
    container = spec["containers"][0]
    # the course's own image, from its profile
    assert container["image"] == "registry.example.edu/courses/ds101:2025-09"
    assert container["args"][:3] == ["python3", "-m", "coursehub.student.singleuser"]
    # the student's uid, not root; files group-owned by 100
    assert container["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["fsGroup"] == 100
    # servers.limits: 2G and 2 CPUs
    assert container["resources"]["limits"] == {"cpu": 2.0, "memory": 2 * 1024**3}
    assert container["resources"]["requests"]["memory"] == 2 * 1024**3
    # the student's own volume for this course at home, the course read-only
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = _mounts(container)
    home = mounts["/home/jovyan"]
    assert volumes[home["name"]]["persistentVolumeClaim"]["claimName"] == "claim-alice--ds101"
    course = mounts["/srv/coursehub/course"]
    assert course["readOnly"] is True and course["subPath"] == "ds101/repo"
    assert volumes[course["name"]]["persistentVolumeClaim"] == {
        "claimName": "coursehub-courses",
        "readOnly": True,
    }
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["COURSEHUB_COURSE"] == "ds101"
    # where the server's workspace extension finds the course: its read-only mount
    assert env["COURSEHUB_COURSE_DIR"] == "/srv/coursehub/course"
    assert env["COURSEHUB_EVENTS_URL"] == "http://proxy-public/services/coursehub/api/events"
    assert spec["nodeSelector"] == {"pool": "students"}
    assert spawner.namespace == "physics"
    kubernetes_validate.validate(pod, "1.30.0", strict=True)
    pvc = await _plain(spawner.get_pvc_manifest())
    assert pvc["metadata"]["name"] == "claim-alice--ds101"
    assert pvc["spec"]["storageClassName"] == "fast"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    kubernetes_validate.validate(pvc, "1.30.0", strict=True)


async def test_each_course_its_own_volume_and_the_default_image_without_one(
    spawner_config: Any,
) -> None:
    pod, _ = await _pod(spawner_config, HubUser("alice"), "lab")
    container = pod["spec"]["containers"][0]
    assert container["image"] == "registry.example.edu/courses/base:2025-09"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    home = _mounts(container)["/home/jovyan"]
    assert volumes[home["name"]]["persistentVolumeClaim"]["claimName"] == "claim-alice--lab"
    assert _mounts(container)["/srv/coursehub/course"]["subPath"] == "lab/repo"


async def test_the_default_server_has_no_course_mounted(spawner_config: Any) -> None:
    pod, _ = await _pod(spawner_config, HubUser("bob"), "")
    container = pod["spec"]["containers"][0]
    assert container["image"] == "registry.example.edu/courses/base:2025-09"
    assert "/srv/coursehub/course" not in _mounts(container)
    assert "COURSEHUB_COURSE" not in {e["name"] for e in container["env"]}


async def test_a_student_not_enrolled_gets_no_pod(spawner_config: Any) -> None:
    spawner = _spawner(spawner_config, HubUser("bob"), "ds101")
    # even asking for the course's profile by hand (REST API user_options) changes nothing
    spawner.user_options = {"profile": "ds101"}
    with pytest.raises(web.HTTPError) as info:
        await spawner.load_user_options()
    assert info.value.status_code == 403
    assert "not enrolled in 'ds101'" in info.value.jupyterhub_message
    # an admin may open any course
    pod, _ = await _pod(spawner_config, HubUser("root1", admin=True, groups=[]), "ds101")
    assert pod["spec"]["containers"][0]["image"].endswith("/ds101:2025-09")


async def test_a_student_cannot_pick_another_courses_image(spawner_config: Any) -> None:
    spawner = _spawner(spawner_config, HubUser("alice"), "lab")
    spawner.user_options = {"profile": "ds101"}
    await spawner.load_user_options()
    pod = await _plain(await spawner.get_pod_manifest())
    assert pod["spec"]["containers"][0]["image"] == "registry.example.edu/courses/base:2025-09"
    # and no profile form is shown: the server's name is the course
    assert spawner.options_form == ""
