"""The baseline's own clean virtual environment, made the way an admin makes one.

Plain JupyterHub must not run from coursehub's environment: it would pay for what
coursehub installs (and strips only for itself) and miss nothing it needs. So the
benchmark makes a venv outside the repository, with pip from the package registry,
holding the same versions as coursehub's venv of what a course hub runs:
jupyterhub, jupyterlab, jupyter_server, ipykernel, nbgitpuller (course content by
link) and nbgrader (assignments, as coursehub grades them), plus the course's own
requirements (what the admin installs for the course).

Two of them:

- ``tuned``: exactly that, as pip leaves it (jsonschema's ``rfc3987-syntax`` comes with
  jupyter_events; nbgrader's server and lab extensions are enabled by its install).
- ``fixes``: the same, with the environment fixes coursehub applies to its own servers
  (``src/coursehub/student/singleuser.py`` and ``jupyter_config/``): ``rfc3987-syntax``
  not installed, nbgrader's server extensions and its lab extension off.

Made once and reused (``/var/tmp/coursehub-bench/<kind>-venv``, readable by every
account since the students' servers run from it); made again when what it should
hold changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from _storm.procs import TargetError, run_checked

ROOT = Path(os.environ.get("COURSEHUB_BENCH_DIR", "/var/tmp/coursehub-bench"))
PINNED = ("jupyterhub", "jupyterlab", "jupyter_server", "ipykernel", "nbgitpuller", "nbgrader")
NBGRADER_SERVER_EXTENSIONS = tuple(
    f"nbgrader.server_extensions.{name}"
    for name in ("formgrader", "validate_assignment", "assignment_list", "course_list")
)
INSTALL_TIMEOUT = 1200


@dataclass(frozen=True)
class BaselineVenv:
    kind: str  # tuned | fixes
    path: Path
    packages: dict[str, str]  # what pip installed, name -> version (pip freeze)

    @property
    def bin(self) -> Path:
        return self.path / "bin"


def base_python() -> str:
    """The system Python our own venv was made from (student accounts can run it)."""
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    for line in cfg.read_text().splitlines() if cfg.exists() else []:
        key, _, value = line.partition("=")
        if key.strip() == "executable":
            return value.strip()
    return "/usr/bin/python3"


def requirements(course_requirements: Sequence[str]) -> list[str]:
    """The same versions as coursehub's venv, and the course's own requirements."""
    pins = []
    for dist in PINNED:
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError as e:
            raise TargetError(f"{dist} is not installed in coursehub's venv") from e
    return [*pins, *course_requirements]


def ensure(
    kind: str, course_requirements: Sequence[str], say: Callable[[str], None] = print
) -> BaselineVenv:
    """The venv of `kind` (tuned | fixes), made or remade if it does not hold `reqs`."""
    if kind not in ("tuned", "fixes"):
        raise ValueError(kind)
    reqs = requirements(course_requirements)
    path = ROOT / f"{kind}-venv"
    marker = path / ".coursehub-bench.json"
    python = base_python()
    spec = {"kind": kind, "python": python, "requirements": reqs}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    if marker.exists() and json.loads(marker.read_text()).get("digest") == digest:
        return BaselineVenv(kind, path, json.loads(marker.read_text())["packages"])
    say(f"baseline: making its own environment {path} (pip install {' '.join(reqs)})…")
    old_umask = os.umask(0o022)  # every student account must read and run it
    try:
        ROOT.mkdir(parents=True, exist_ok=True)
        ROOT.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)
        run_checked([python, "-m", "venv", str(path)], timeout=300)
        pip = [str(path / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        run_checked([*pip, "install", "--quiet", *reqs], timeout=INSTALL_TIMEOUT)
        if kind == "fixes":
            _apply_fixes(path, pip)
        frozen = run_checked([*pip, "freeze", "--all"], timeout=120)
    finally:
        os.umask(old_umask)
    packages = dict(line.split("==", 1) for line in frozen.splitlines() if "==" in line)
    marker.write_text(json.dumps({"digest": digest, "spec": spec, "packages": packages}) + "\n")
    return BaselineVenv(kind, path, packages)


def _apply_fixes(path: Path, pip: list[str]) -> None:
    """What coursehub does for its own servers, done the way an admin can: uninstall
    rfc3987-syntax (jsonschema then skips that one format check) and switch nbgrader's
    notebook-side extensions off in the environment's Jupyter config."""
    subprocess.run([*pip, "uninstall", "--yes", "--quiet", "rfc3987-syntax"], check=False,
                   capture_output=True, timeout=120)  # fmt: skip
    server_d = path / "etc" / "jupyter" / "jupyter_server_config.d"
    server_d.mkdir(parents=True, exist_ok=True)
    (server_d / "zz-nbgrader-off.json").write_text(
        json.dumps(
            {
                "ServerApp": {
                    "jpserver_extensions": dict.fromkeys(NBGRADER_SERVER_EXTENSIONS, False)
                }
            },
            indent=2,
        )  # fmt: skip
        + "\n"
    )
    labconfig = path / "etc" / "jupyter" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyter/nbgrader": True}}, indent=2) + "\n"
    )
