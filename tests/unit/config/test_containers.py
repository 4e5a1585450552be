"""coursehub.yaml for the container backends: spawn.kubernetes, spawn.docker and
courses.settings.<course>.image; every bad value is named with its key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursehub.config.layout import DataLayout, Ports
from coursehub.config.loader import load_config, load_config_text
from coursehub.config.show import help_all
from coursehub.config.translate.jupyterhub import BackendElsewhere, HubSecrets, Machine, translate
from coursehub.core.errors import ConfigError

K8S = """\
spawn:
  backend: kubernetes
  kubernetes:
    hub_image: registry.example.edu/coursehub-hub:0.1.0
    image: registry.example.edu/courses/base:2025-09
    database_url: postgresql://coursehub@db:5432/coursehub
"""


def _problems(text: str, tmp_path: Path) -> str:
    path = tmp_path / "coursehub.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return "\n".join(str(p) for p in info.value.problems)


def test_switching_backend_is_one_key_plus_its_section() -> None:
    config = load_config_text(K8S).config
    assert config.spawn.backend == "kubernetes"
    k8s = config.spawn.kubernetes
    assert k8s is not None and k8s.namespace == "coursehub" and k8s.storage.size == 10 * 1024**3
    docker = load_config_text(
        "site: {bind_address: 0.0.0.0}\n"
        "spawn: {backend: docker, docker: {image: 'quay.io/jupyter/base:2025'}}\n"
    ).config.spawn.docker
    assert docker is not None and docker.engine == "docker" and docker.network == "coursehub"
    # the sections may be written while another backend is in use
    assert load_config_text(K8S.replace("backend: kubernetes", "backend: local")).config


def test_a_backend_without_its_section_says_what_to_add(tmp_path: Path) -> None:
    text = _problems("spawn: {backend: kubernetes}\n", tmp_path)
    assert "coursehub.yaml:1: spawn:" in text and "add a spawn.kubernetes section" in text
    assert "hub_image and image" in text


def test_required_image_is_named(tmp_path: Path) -> None:
    text = _problems(
        K8S.replace("    image: registry.example.edu/courses/base:2025-09\n", ""), tmp_path
    )
    assert "spawn.kubernetes.image: this setting is required" in text


def test_kubernetes_needs_postgresql_without_a_password_in_the_file(tmp_path: Path) -> None:
    no_db = K8S.replace("    database_url: postgresql://coursehub@db:5432/coursehub\n", "")
    assert "needs PostgreSQL: set spawn.kubernetes.database_url (or database.url)" in _problems(
        no_db, tmp_path
    )
    sqlite = "database: {url: 'sqlite:////srv/ch.sqlite'}\n" + no_db
    assert "database.url: the kubernetes backend needs PostgreSQL" in _problems(sqlite, tmp_path)
    with_password = K8S.replace("coursehub@db", "coursehub:hunter2@db")
    text = _problems(with_password, tmp_path)
    assert "spawn.kubernetes.database_url" in text and "keep the password out" in text
    # database.url may keep its password on one machine; it is used without it
    shared = "database: {url: 'postgresql://ch:pw@db:5432/ch'}\n" + no_db
    assert load_config_text(shared).config


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("Registry/Course:1", "not an image reference"),
        ("registry.example.edu/courses/ds101", "no tag"),
        ("ds101 latest", "not an image reference"),
    ],
)
def test_course_image_is_checked(tmp_path: Path, image: str, message: str) -> None:
    text = _problems(f"courses:\n  settings:\n    ds101: {{image: '{image}'}}\n", tmp_path)
    assert "coursehub.yaml:3: courses.settings.ds101.image" in text and message in text


def test_course_settings_keys_are_course_names(tmp_path: Path) -> None:
    text = _problems("courses:\n  settings:\n    DS 101: {}\n", tmp_path)
    assert "courses.settings" in text and "not a course name" in text
    text = _problems("courses:\n  settings:\n    ds101: {imgae: x}\n", tmp_path)
    assert "unknown key 'imgae' (did you mean 'image'?)" in text


def test_every_new_setting_is_described() -> None:
    text = help_all()
    for key in (
        "spawn.kubernetes.hub_image",
        "spawn.kubernetes.storage.course_data_storage_class",
        "spawn.kubernetes.ingress.tls_secret",
        "spawn.docker.volume_name",
        "spawn.docker.engine  ('docker' | 'podman'",
        "courses.settings.image",
    ):
        assert key in text


def test_the_hub_on_this_machine_is_refused_for_kubernetes(tmp_path: Path) -> None:
    config = load_config_text(K8S).config
    with pytest.raises(BackendElsewhere, match="coursehub k8s render"):
        translate(
            config,
            DataLayout(tmp_path),
            Ports(1, 2, 3),
            HubSecrets("a", "b", "c"),
            Machine("python3", 1),
        )
