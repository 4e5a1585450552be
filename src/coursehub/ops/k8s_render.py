"""`coursehub k8s render OUTDIR`: write the chart's values, coursehub's manifests, the
hub image's Containerfile, and check every manifest against the Kubernetes schemas."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from coursehub.config.models import CoursehubConfig
from coursehub.config.translate import k8s_names as names
from coursehub.config.translate.helm import helm_values, kubernetes_section
from coursehub.config.translate.k8s_manifests import extra_manifests, grading_job_template
from coursehub.config.translate.k8s_secrets import secret_commands
from coursehub.core.errors import CoursehubError
from coursehub.courses.image_wheel import WHEEL_GLOB, wheel_command

VALUES_FILE = "values.yaml"
EXTRAS_FILE = "coursehub-extras.yaml"
GRADING_JOB_FILE = "grading-job-template.yaml"
HUB_IMAGE_DIR = "hub-image"

HEADER = (
    "# Written by `coursehub k8s render` from coursehub.yaml: change that file and render\n"
    "# again rather than editing this one. It holds no secret and may be committed.\n"
)


class ManifestInvalid(CoursehubError):
    """A rendered object does not match the Kubernetes schema (a coursehub bug)."""


@dataclass
class Rendered:
    outdir: Path
    files: list[Path]
    secret_commands: list[str]
    wheel_command: str
    validated: bool  # False: kubernetes-validate is not installed
    notes: list[str] = field(default_factory=list)


def hub_containerfile() -> str:
    return (
        "# The hub and coursehub service image: the Zero-to-JupyterHub hub image with\n"
        "# coursehub (its authenticators, spawner, login page and service) installed.\n"
        f"FROM quay.io/jupyterhub/k8s-hub:{names.CHART_VERSION}\n"
        "USER root\n"
        "RUN apt-get update \\\n"
        " && apt-get install -y --no-install-recommends git \\\n"
        " && rm -rf /var/lib/apt/lists/*\n"
        f"COPY {WHEEL_GLOB} /tmp/wheels/\n"
        "RUN whl=$(ls /tmp/wheels/coursehub-*.whl) \\\n"
        ' && python3 -m pip install --no-cache-dir "${whl}[postgres,kubernetes]" \\\n'
        " && rm -rf /tmp/wheels\n"
        "USER 1000\n"
    )


def dump_yaml(*documents: Any) -> str:
    # PyYAML quotes what YAML 1.1 (Helm's and kubectl's reader) would take for a
    # number, a date or a boolean (tag: "1.10", value: "yes").
    return yaml.safe_dump_all(list(documents), sort_keys=False, width=4096)


def validate_manifests(documents: list[dict[str, Any]], version: str = names.K8S_VERSION) -> bool:
    """Check each object against the Kubernetes schemas; False when the checker is not
    installed (pip install 'coursehub[kubernetes]')."""
    try:
        import kubernetes_validate
    except ImportError:
        return False
    for doc in documents:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            raise ManifestInvalid(
                f"{doc.get('kind')} {doc.get('metadata', {}).get('name', '')}: {where}: "
                f"{exc.message}"
            ) from None
    return True


def render(config: CoursehubConfig, outdir: Path) -> Rendered:
    """Write everything into `outdir` (made if needed); existing files are replaced."""
    k8s = kubernetes_section(config)
    values = helm_values(config)
    extras = extra_manifests(config)
    job = grading_job_template(config)
    validated = validate_manifests([*extras, job])
    outdir.mkdir(parents=True, exist_ok=True)
    image_dir = outdir / HUB_IMAGE_DIR
    image_dir.mkdir(exist_ok=True)
    files = {
        outdir / VALUES_FILE: HEADER + dump_yaml(values),
        outdir / EXTRAS_FILE: HEADER + dump_yaml(*extras),
        outdir / GRADING_JOB_FILE: HEADER
        + "# The shape of one grading run (kubectl create -f): not applied with the extras.\n"
        + dump_yaml(job),
        image_dir / "Containerfile": hub_containerfile(),
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    notes = []
    if any(c.timeout is not None or c.max_age is not None for c in config.idle.courses.values()):
        notes.append("idle.courses has per-course limits: coursehub's culler runs in the hub")
    if not k8s.storage.course_data_storage_class:
        notes.append(
            "spawn.kubernetes.storage.course_data_storage_class is empty: the cluster's "
            "default class must offer ReadWriteMany for the course-data volume"
        )
    return Rendered(
        outdir=outdir,
        files=list(files),
        secret_commands=secret_commands(config),
        wheel_command=wheel_command(image_dir),
        validated=validated,
        notes=notes,
    )
