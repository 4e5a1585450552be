"""`coursehub course build`: a course's environment and its Jupyter kernel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..config.layout import DataLayout
from ..hub.course_servers import KERNELS_SUBDIR
from .environment import BuildResult, build_environment
from .kernels import write_kernelspec
from .manifest import load_manifest
from .paths import safe_relative_path


def env_dir(layout: DataLayout, course: str) -> Path:
    return layout.course_dir(course) / "env"


def kernels_dir(layout: DataLayout, course: str) -> Path:
    return layout.course_dir(course) / KERNELS_SUBDIR / "kernels"


def build_course(
    layout: DataLayout,
    course: str,
    *,
    log: Callable[[str], None] | None = None,
    force: bool = False,
) -> BuildResult:
    """Build the environment from the manifest's requirements (if changed) and
    register its kernel where the course's servers look for kernels."""
    repo = layout.course_repo(course)
    manifest = load_manifest(repo, course)
    requirements = manifest.environment.requirements
    req_path = safe_relative_path(repo, requirements) if requirements else None
    result = build_environment(
        course, req_path, env_dir(layout, course), log=log, root=repo, force=force
    )
    write_kernelspec(course, manifest.title, env_dir(layout, course), kernels_dir(layout, course))
    return result
