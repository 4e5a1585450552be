"""`coursehub course build`: a course's environment and its Jupyter kernel."""

from __future__ import annotations

import fcntl
import os
import pwd
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from coursehub.config.layout import DataLayout
from coursehub.core.errors import CoursehubError
from coursehub.courses.course_kernel import env_dir, write_course_kernel
from coursehub.courses.environment import (
    BuildResult,
    EnvironmentBuildError,
    build_environment,
    needs_rebuild,
    not_installed,
    read_stamp,
)
from coursehub.courses.labextensions import log_lines, publish
from coursehub.courses.manifest import load_manifest
from coursehub.courses.paths import CONFIG_FOLDERS, safe_relative_path
from coursehub.courses.servers import KERNELS_SUBDIR

# pip runs as this account, never as root (requirements may run arbitrary code).
DEFAULT_BUILD_ACCOUNT = "coursehub-build"


def build_account_name() -> str:
    return os.environ.get("COURSEHUB_BUILD_USER") or DEFAULT_BUILD_ACCOUNT


def ensure_build_account() -> str:
    """The system account course builds run as, created on first use."""
    name = build_account_name()
    if not _account_exists(name):
        done = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home"]
            + ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 and done.returncode != 9:  # 9: made meanwhile
            raise EnvironmentBuildError(
                f"could not create the build account {name!r}: {done.stderr.strip()}"
            )
    return name


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def build_course(
    layout: DataLayout,
    course: str,
    *,
    log: Callable[[str], None] | None = None,
    force: bool = False,
) -> BuildResult:
    """Build the environment from the manifest's requirements (if changed) and
    register its kernel where the course's servers look for kernels.

    One build per course at a time: a second one (CLI, staff page) is refused.
    """
    with _only_build(layout.course_dir(course)):
        return _build(layout, course, log, force)


@contextmanager
def _only_build(course_dir: Path) -> Iterator[None]:
    if not course_dir.is_dir():
        raise EnvironmentBuildError(f"there is no course folder at {course_dir}")
    with open(course_dir / ".build.lock", "a") as fd:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EnvironmentBuildError(
                "a build of this course is already running; wait for it to finish"
            ) from None
        yield


def _build(
    layout: DataLayout, course: str, log: Callable[[str], None] | None, force: bool
) -> BuildResult:
    repo = layout.course_repo(course)
    manifest = load_manifest(repo, course)
    if log is not None:
        for note in manifest.notes:  # postBuild refused, files not used: said before pip runs
            log(f"coursehub: {note}")
    requirements = manifest.environment.requirements
    req_path = safe_relative_path(repo, requirements, CONFIG_FOLDERS) if requirements else None
    run_as = ensure_build_account() if os.geteuid() == 0 else None
    result = build_environment(
        course, req_path, env_dir(layout, course), log=log, root=repo, force=force, run_as=run_as
    )
    write_course_kernel(layout, course, manifest)
    # also when nothing was rebuilt: the server's JupyterLab may have changed
    report = publish(env_dir(layout, course), layout.course_dir(course) / KERNELS_SUBDIR)
    for line in log_lines(report):
        if log is not None:
            log(line)
    return result


def environment_state(layout: DataLayout, course: str) -> str:
    """One line for the staff page: is the course environment built and current?"""
    repo = layout.course_repo(course)
    try:
        manifest = load_manifest(repo, course)
        requirements = manifest.environment.requirements
        req_path = safe_relative_path(repo, requirements, CONFIG_FOLDERS) if requirements else None
        if read_stamp(env_dir(layout, course)) is None:
            return "not built yet: students get the default Python kernel"
        if needs_rebuild(req_path, env_dir(layout, course), root=repo):
            return "out of date: the requirements changed since the last build"
    except CoursehubError as exc:
        return f"cannot be built: {exc}"
    missing = not_installed(env_dir(layout, course))
    if missing:
        return "built and up to date; not installed (not on PyPI): " + ", ".join(missing)
    return "built and up to date"
