"""The course's kernelspec as its repository makes it: written by every build and
rewritten after every pull, since new notebooks may name new kernels.

- aliases: the Python kernel names the notebooks ask for (courses/kernel_requests.py)
  and those course.yaml adds (``kernels.aliases``);
- import path: the repository's ``modules/`` folder when there is one, as nbhosting
  does, then course.yaml's ``kernels.python_path``. Always folders of the read-only
  course checkout, never of the student's copy: a student can write their copy, and a
  module there would be imported in place of the course's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursehub.config.layout import DataLayout
from coursehub.courses.kernel_requests import KernelRequest, notebook_kernel, scan_repository
from coursehub.courses.kernels import KernelOptions, kernel_name, write_kernelspec
from coursehub.courses.manifest import CourseManifest, load_manifest
from coursehub.courses.paths import PathRejected, safe_relative_path
from coursehub.courses.servers import KERNELS_SUBDIR

MODULES_FOLDER = "modules"
LISTED_NAME = "python3"  # the name a course server lists the course kernel under


def kernels_dir(layout: DataLayout, course: str) -> Path:
    return layout.course_dir(course) / KERNELS_SUBDIR / "kernels"


def env_dir(layout: DataLayout, course: str) -> Path:
    return layout.course_dir(course) / "env"


def import_path(repo: Path, manifest: CourseManifest) -> tuple[Path, ...]:
    """Absolute folders of the checkout for the kernel's import path, in order."""
    folders: list[Path] = []
    wanted = [MODULES_FOLDER, *manifest.kernels.python_path]
    for relative in wanted:
        try:
            real = Path(repo).resolve() if relative == "." else safe_relative_path(repo, relative)
        except PathRejected:
            continue  # a modules/ symlink out of the checkout is no course folder
        if real.is_dir() and real not in folders:
            folders.append(real)
    return tuple(folders)


def kernel_options(repo: Path, course: str, manifest: CourseManifest) -> KernelOptions:
    scan = scan_repository(repo)
    own = {LISTED_NAME, kernel_name(course)}
    aliases = (scan.python_names | set(manifest.kernels.aliases)) - own
    return KernelOptions(
        aliases=tuple(sorted(aliases)),
        server_python=manifest.kernels.server_python,
        python_path=import_path(repo, manifest),
    )


def write_course_kernel(
    layout: DataLayout, course: str, manifest: CourseManifest | None = None
) -> Path:
    """Write the course's kernelspec (environment, aliases, import path)."""
    repo = layout.course_repo(course)
    manifest = manifest or load_manifest(repo, course)
    return write_kernelspec(
        course,
        manifest.title,
        env_dir(layout, course),
        kernels_dir(layout, course),
        options=kernel_options(repo, course, manifest),
    )


def refresh_course_kernel(layout: DataLayout, course: str) -> bool:
    """After a pull: rewrite the kernelspec if the course has one (its environment was
    built); whether it did. A broken manifest raises ManifestError."""
    if not (kernels_dir(layout, course) / kernel_name(course) / "kernel.json").is_file():
        return False
    write_course_kernel(layout, course)
    return True


# --- what a notebook's link page says about kernels ------------------------------------


@dataclass(frozen=True)
class OfferedKernel:
    display_name: str
    language: str


def _course_spec(layout: DataLayout, course: str) -> dict[str, Any] | None:
    path = kernels_dir(layout, course) / kernel_name(course) / "kernel.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def offered_kernels(layout: DataLayout, course: str) -> list[OfferedKernel]:
    """The kernels the course's servers offer (student/kernelspecs.py)."""
    spec = _course_spec(layout, course)
    if spec is None:  # not built yet: the server's own Python
        return [OfferedKernel("Python 3", "Python")]
    offered = [OfferedKernel(str(spec.get("display_name", course)), "Python")]
    own = (spec.get("metadata") or {}).get("coursehub") or {}
    if own.get("server_python"):
        offered.append(OfferedKernel("Python 3 (server)", "Python"))
    return offered


def unmet_kernel(layout: DataLayout, course: str, notebook: Path) -> KernelRequest | None:
    """The kernel the course notebook at `notebook` asks for when no kernel of the course
    answers for it (another language); None when it runs as it is."""
    request = notebook_kernel(notebook)
    if request is None or request.is_python:
        return None
    spec = _course_spec(layout, course) or {}
    aliases = ((spec.get("metadata") or {}).get("coursehub") or {}).get("aliases") or []
    if request.name.lower() in aliases:
        return None  # course.yaml says this name is the course's kernel
    return request
