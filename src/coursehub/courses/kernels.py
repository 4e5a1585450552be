"""Jupyter kernelspecs for course environments.

The specs go into a ``share/jupyter/kernels`` directory that is put on the student
servers' JUPYTER_PATH. They point at ``<env_dir>/bin/python`` through the stable
``env_dir`` path (never its resolved generation), so a rebuild needs no new spec.

A spec of an environment in the data layout (``<data>/courses/<course>/env``) also
names the course's kernel template (coursehub.forking.kernels.template), through the
``coursehub-forked`` provisioner; without a running template the kernel starts cold.

A course server lists this one spec as ``python3`` and also answers with it for every
name in ``metadata.coursehub.aliases`` (student/kernelspecs.py); KernelOptions says
what those are and which course folders go first on the kernel's import path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec

# Jupyter matches kernelspec directory names case-insensitively against this pattern;
# lower case only, so two courses can never map to one kernel.
_KERNEL_NAME_RE = re.compile(r"^[a-z0-9._-]+$")
# Under the data directory (0711), not runtime/ (0700): students' servers connect.
KERNEL_TEMPLATES_SUBDIR = "kernel-templates"
PROVISIONER = "coursehub-forked"


@dataclass(frozen=True)
class KernelOptions:
    """What a course's kernelspec says beyond its environment (courses/course_kernel.py)."""

    aliases: tuple[str, ...] = ()  # more kernelspec names the course kernel answers for
    server_python: bool = False  # the server's own Python is offered too
    python_path: tuple[Path, ...] = ()  # absolute folders first on the kernel's sys.path


def kernel_name(course: str) -> str:
    """The kernel name of a course, e.g. ``coursehub-physics101``."""
    name = f"coursehub-{course}"
    if not _KERNEL_NAME_RE.match(name) or course in {"", ".", ".."}:
        raise ValueError(f"course name {course!r} cannot be used in a kernel name")
    return name


def template_socket(data_dir: Path, course: str) -> Path:
    """Where the kernel template of `course` listens."""
    kernel_name(course)  # a name that is safe in a path
    return Path(data_dir).absolute() / KERNEL_TEMPLATES_SUBDIR / f"{course}.sock"


def _data_dir_of(env_dir: Path, course: str) -> Path | None:
    """The data directory when `env_dir` is the layout's <data>/courses/<course>/env."""
    env_dir = Path(env_dir).absolute()
    course_dir = env_dir.parent
    if env_dir.name == "env" and course_dir.name == course and course_dir.parent.name == "courses":
        return course_dir.parent.parent
    return None


def kernelspec(
    course: str,
    title: str,
    env_dir: Path,
    socket: Path | None = None,
    options: KernelOptions | None = None,
) -> dict[str, object]:
    """The content of the course's kernel.json.

    `socket`: the kernel template's; by default the data layout's when `env_dir` lies
    in it, else none (the kernel always starts cold).
    """
    options = options or KernelOptions()
    own: dict[str, object] = {"course": course}
    if options.aliases:
        own["aliases"] = sorted(set(options.aliases))
    if options.server_python:
        own["server_python"] = True
    metadata: dict[str, object] = {"debugger": True, "coursehub": own}
    if socket is None and (data_dir := _data_dir_of(env_dir, course)) is not None:
        socket = template_socket(data_dir, course)
    if socket is not None:
        metadata["kernel_provisioner"] = {
            "provisioner_name": PROVISIONER,
            "config": {"socket": str(socket)},
        }
    return {
        "argv": [
            str(Path(env_dir).absolute() / "bin" / "python"),
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": f"{' '.join(title.split())} (course)",
        "language": "python",
        # Read by a cold kernel's interpreter and by the kernel template's fork alike.
        "env": (
            {"PYTHONPATH": os.pathsep.join(str(p) for p in options.python_path)}
            if options.python_path
            else {}
        ),
        "metadata": metadata,
    }


def write_kernelspec(
    course: str,
    title: str,
    env_dir: Path,
    dest: Path,
    socket: Path | None = None,
    options: KernelOptions | None = None,
) -> Path:
    """Write (or replace) the course's kernelspec under `dest`; return its directory.

    Directories are 0755 and kernel.json 0644 whatever the umask: students' servers
    read them under their own accounts.
    """
    dest = Path(dest)
    spec_dir = dest / kernel_name(course)
    spec_dir.mkdir(parents=True, exist_ok=True)
    for directory in (dest, spec_dir):
        directory.chmod(0o755)
    data = json.dumps(kernelspec(course, title, env_dir, socket, options), indent=1) + "\n"
    # Replace atomically: a server listing kernels never reads half a file.
    fd, tmp = tempfile.mkstemp(dir=spec_dir, prefix=".kernel.json.")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, spec_dir / "kernel.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # Read back the way Jupyter will, so a broken spec fails here, not in a lecture.
    KernelSpec.from_resource_dir(str(spec_dir))
    return spec_dir


def remove_kernelspec(course: str, dest: Path) -> bool:
    """Remove the course's kernelspec; return whether there was one."""
    spec_dir = Path(dest) / kernel_name(course)
    if not spec_dir.exists():
        return False
    shutil.rmtree(spec_dir)
    return True
