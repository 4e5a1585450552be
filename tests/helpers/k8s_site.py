"""A coursehub.yaml for the kubernetes backend, shared by the k8s tests."""

from __future__ import annotations

from pathlib import Path

from coursehub.config.loader import LoadedConfig, load_config

SITE = """\
site: {name: Physics <hub>, public_url: "https://hub.example.edu"}
roles: {admin: [root1]}
servers:
  limits: {memory: 2G, cpu: 2}
idle: {timeout: 30m, check_every: 2m}
courses:
  settings:
    ds101: {image: "registry.example.edu/courses/ds101:2025-09"}
spawn:
  backend: kubernetes
  kubernetes:
    namespace: physics
    hub_image: "registry.example.edu/coursehub-hub:0.1.0"
    image: "registry.example.edu/courses/base:2025-09"
    database_url: "postgresql://coursehub@db.example.edu:5432/coursehub"
    storage: {storage_class: fast, size: 5G, course_data_storage_class: nfs-rwx}
    node_selector: {pool: students}
    ingress: {host: hub.example.edu, tls_secret: hub-tls}
"""


def load_site(tmp_path: Path, text: str = SITE) -> LoadedConfig:
    path = tmp_path / "coursehub.yaml"
    path.write_text(text)
    return load_config(path)
