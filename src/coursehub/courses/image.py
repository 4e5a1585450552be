"""`coursehub course image COURSE`: a Containerfile for the course's environment.

The image holds what `course build` would install (the course's requirements, checked
by the same rules), JupyterHub and JupyterLab of the hub's versions, ipykernel and
coursehub itself (its server extension reports notebook events), and runs as the
non-root user jovyan (uid 1000, gid 100). The course's notebooks are not in it:
servers see the course's git checkout, mounted read-only when they start.
Nothing is built here; the output says how to build it.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath

from coursehub.config.containers import check_image_reference
from coursehub.config.layout import DataLayout
from coursehub.core.errors import CoursehubError
from coursehub.courses.environment import IPYKERNEL_REQUIREMENT
from coursehub.courses.environment_errors import EnvironmentBuildError
from coursehub.courses.image_wheel import WHEEL_GLOB, wheel_command
from coursehub.courses.manifest import load_manifest
from coursehub.courses.paths import CONFIG_FOLDERS, safe_relative_path
from coursehub.courses.requirements import read_requirements

CONTAINERFILE = "Containerfile"
REQUIREMENTS_DIR = "requirements"
DEFAULT_PYTHON = "3.12"
MIN_PYTHON = (3, 11)  # coursehub's own floor, and so its server extension's
ENGINES = ("podman", "docker", "buildah")


@dataclass(frozen=True)
class CourseImage:
    course: str
    containerfile: Path
    requirements: str | None  # the requirements file, relative to the repository
    copied: list[str]  # files copied next to the Containerfile
    python: str
    wheel_command: str
    build_command: str


def _pinned(package: str) -> str:
    try:
        return f"{package}=={version(package)}"
    except PackageNotFoundError:
        return package


def _python_version(wanted: str | None) -> str:
    chosen = wanted or DEFAULT_PYTHON
    parts = tuple(int(p) for p in chosen.split("."))
    if parts[:2] < MIN_PYTHON:
        raise EnvironmentBuildError(
            f'course.yaml: environment.python: "{chosen}": course images need Python '
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer (coursehub's server extension runs "
            'in them); write e.g. python: "3.12"'
        )
    return ".".join(str(p) for p in parts[:2])


def containerfile(
    course: str,
    title: str,
    python: str,
    requirements: str | None,
    base: str | None = None,
    conda: Sequence[str] = (),
) -> str:
    """The Containerfile text (pure)."""
    base_image = base or f"docker.io/library/python:{python}-slim"
    install = " ".join(
        f'"{r}"' for r in (_pinned("jupyterhub"), _pinned("jupyterlab"), IPYKERNEL_REQUIREMENT)
    )
    lines = [
        f"# Environment of the course {course} ({title}), written by `coursehub course image`.",
        "# The course's files are not in the image: servers see the course's git checkout,",
        "# mounted read-only at /srv/coursehub/course, and a volume of their own as home.",
        f"FROM {base_image}",
        "USER root",
        "RUN apt-get update \\",
        " && apt-get install -y --no-install-recommends git tini \\",
        " && rm -rf /var/lib/apt/lists/*",
        "RUN useradd --uid 1000 --gid 100 --create-home --home-dir /home/jovyan "
        "--shell /bin/bash jovyan",
        f"COPY {WHEEL_GLOB} /tmp/wheels/",
        "RUN python3 -m pip install --no-cache-dir /tmp/wheels/coursehub-*.whl \\",
        f"      {install} \\",
        " && rm -rf /tmp/wheels",
    ]
    if requirements:
        lines += [
            f"COPY {REQUIREMENTS_DIR}/ /tmp/course-requirements/",
            "# as `coursehub course build`: pip runs at the repository's root",
            "RUN cd /tmp/course-requirements \\",
            f" && python3 -m pip install --no-cache-dir -r {requirements} \\",
            " && rm -rf /tmp/course-requirements",
        ]
    if conda:
        # environment.yml's conda packages: from PyPI where they are, as `course build`
        packages = " ".join(shlex.quote(c) for c in conda)
        lines += [
            f"RUN for p in {packages}; do \\",
            '      python3 -m pip install --no-cache-dir "$p" || echo "not installed: $p"; \\',
            "    done",
        ]
    lines += [
        "# coursehub's settings for student servers (frame ancestors, events, lab settings)",
        "RUN ln -s \"$(python3 -c 'import coursehub.student.jupyter_config as c, os; "
        "print(os.path.dirname(c.__file__))')\" /opt/coursehub-server-config",
        "ENV JUPYTER_CONFIG_PATH=/opt/coursehub-server-config",
        "USER 1000:100",
        "WORKDIR /home/jovyan",
        "EXPOSE 8888",
        'ENTRYPOINT ["tini", "--"]',
        'CMD ["python3", "-m", "coursehub.student.singleuser"]',
    ]
    return "\n".join(lines) + "\n"


def write_course_image(
    layout: DataLayout, course: str, outdir: Path, base: str | None = None
) -> CourseImage:
    """Check the course's requirements as `course build` does, then write the
    Containerfile and copy the requirement files it installs into `outdir`."""
    if base is not None:
        try:
            check_image_reference(base)
        except ValueError as exc:
            raise CoursehubError(f"--base {base!r}: {exc}") from None
    repo = layout.course_repo(course)
    manifest = load_manifest(repo, course)
    python = _python_version(manifest.environment.python)
    requirements = manifest.environment.requirements
    req_path = safe_relative_path(repo, requirements, CONFIG_FOLDERS) if requirements else None
    inputs = read_requirements(req_path, repo)  # RequirementsError, as course build
    outdir.mkdir(parents=True, exist_ok=True)
    copy_root = outdir / REQUIREMENTS_DIR
    if copy_root.exists():
        shutil.rmtree(copy_root)
    for rel in inputs.files:
        source = safe_relative_path(repo, rel, CONFIG_FOLDERS)
        target = copy_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            # links stay links: nothing outside the repository is copied
            shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
    if requirements and inputs.pip_text is not None:
        # environment.yml: pip reads its pip part, written beside it
        requirements = str(PurePosixPath(requirements).with_name("coursehub-pip.txt"))
        (copy_root / requirements).write_text(inputs.pip_text, encoding="utf-8")
    path = outdir / CONTAINERFILE
    text = containerfile(course, manifest.title, python, requirements, base, inputs.conda)
    path.write_text(text, encoding="utf-8")
    engine = next((e for e in ENGINES if shutil.which(e)), "podman")
    build = "buildah bud" if engine == "buildah" else f"{engine} build"
    return CourseImage(
        course=course,
        containerfile=path,
        requirements=requirements,
        copied=list(inputs.files),
        python=python,
        wheel_command=wheel_command(outdir),
        build_command=f"{build} -t IMAGE:TAG -f {path} {outdir}",
    )
