"""The JupyterLab extensions of a course environment, active in the course's servers.

Packages such as ipywidgets, plotly, ipympl, jupyterlab-myst or jupyter_bokeh install a
prebuilt JupyterLab extension into ``<env>/share/jupyter/labextensions``. JupyterLab
looks for them in the ``labextensions`` folder of each entry of its Jupyter path, and a
course server's JUPYTER_PATH is the course's ``<course dir>/jupyter`` folder
(courses/servers.py). The environment's whole ``share/jupyter`` is not put there: it
also holds kernelspecs (ipykernel's ``python3`` runs whatever ``python`` comes first on
PATH) and nbconvert templates (Jinja code the server would run).

So after each build, `publish` links the environment's extensions into
``<course dir>/jupyter/labextensions`` (through the stable ``env`` link, so a rebuild
needs no new links) and records what it found in ``labextensions.json`` beside it for
the build output and the staff page. One made for another JupyterLab is left out with
a message saying what to pin: it would fail to load, or break the page, in every
student's browser (see `check`). A course's extension takes the place of the server's
own of the same name (its version is the one that matches the course kernel's Python
package).

Only static files are read here (package.json, never through a symbolic link). Course
servers serve the linked folders to the browser as the student; nothing from the
environment runs in a server or in the forked servers' template. JupyterLab looks the
extensions up in the server (after the fork) on each page load.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coursehub.core.errors import CoursehubError

SHARE_SUBDIR = Path("share") / "jupyter" / "labextensions"
LINKS_NAME = "labextensions"  # <course dir>/jupyter/labextensions, on JUPYTER_PATH
REPORT_NAME = "labextensions.json"
MAX_PACKAGE_JSON = 1 << 20
MAX_EXTENSIONS = 300  # a report the staff page can show; real environments have a dozen
# npm package names: also safe as file names (no "..", no "/" but the scope's)
_NPM_NAME = re.compile(r"^(@[a-z0-9~-][a-z0-9._~-]*/)?[a-z0-9~-][a-z0-9._~-]*$")


class LabExtensionError(CoursehubError):
    """The course's lab extension links could not be written."""


@dataclass(frozen=True)
class ServerLab:
    """The JupyterLab that course servers run: its version and its core packages."""

    version: str
    core_data: dict[str, Any]


@dataclass(frozen=True)
class Found:
    """One folder of the environment's labextensions."""

    name: str
    version: str
    package: dict[str, Any]


@dataclass
class Report:
    """What `publish` made active and what it left out, with why."""

    jupyterlab: str
    active: list[str] = field(default_factory=list)  # "name version"
    problems: list[str] = field(default_factory=list)


def server_jupyterlab() -> ServerLab:
    """The JupyterLab installed beside coursehub, which course servers run."""
    try:
        import jupyterlab  # type: ignore[import-untyped]
    except ImportError as exc:
        raise LabExtensionError(f"JupyterLab is not installed beside coursehub: {exc}") from None
    core = Path(jupyterlab.__file__).parent / "static" / "package.json"
    try:
        data = json.loads(core.read_text())
    except (OSError, ValueError) as exc:
        raise LabExtensionError(f"cannot read JupyterLab's own {core}: {exc}") from None
    return ServerLab(str(jupyterlab.__version__), data)


def required_versions(package: dict[str, Any]) -> dict[str, str]:
    """The version ranges an extension asks of shared packages: its dependencies, with
    the ranges its ``jupyterlab.sharedPackages`` states instead where it states one."""
    wanted = {
        str(k): str(v) for k, v in (package.get("dependencies") or {}).items() if isinstance(v, str)
    }
    shared = (package.get("jupyterlab") or {}).get("sharedPackages") or {}
    if isinstance(shared, dict):
        for name, spec in shared.items():
            if isinstance(spec, dict) and isinstance(spec.get("requiredVersion"), str):
                wanted[str(name)] = spec["requiredVersion"]
    return wanted


def mismatches(package: dict[str, Any], lab: ServerLab) -> list[tuple[str, str, str]]:
    """(package, JupyterLab's range, the extension's range) for each shared package of
    JupyterLab's core whose ranges do not overlap: JupyterLab's own rule, the one
    ``jupyter labextension list`` applies."""
    from jupyterlab.commands import _validate_compatibility  # type: ignore[import-untyped]

    name = str(package.get("name", ""))
    return [
        tuple(e) for e in _validate_compatibility(name, required_versions(package), lab.core_data)
    ]


def _short(value: object, limit: int = 80) -> str:
    """A value from a package.json as shown in a message: a course's file, any length."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read_package(folder: Path) -> dict[str, Any]:
    """package.json of `folder`, never through a link, at most MAX_PACKAGE_JSON bytes."""
    fd = os.open(folder / "package.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        raw = file.read(MAX_PACKAGE_JSON + 1)
    if len(raw) > MAX_PACKAGE_JSON:
        raise ValueError("larger than 1 MB")
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _folders(top: Path) -> list[tuple[str, Path]]:
    """(relative name, path) of each extension folder: ``name`` or ``@scope/name``."""
    out: list[tuple[str, Path]] = []
    for entry in sorted(os.scandir(top), key=lambda e: e.name):
        if entry.name.startswith("@") and entry.is_dir(follow_symlinks=False):
            out += [
                (f"{entry.name}/{inner.name}", Path(inner.path))
                for inner in sorted(os.scandir(entry.path), key=lambda e: e.name)
                if not inner.name.startswith(".")
            ]
        elif not entry.name.startswith("."):
            out.append((entry.name, Path(entry.path)))
    return out


def scan(env_dir: Path) -> tuple[list[Found], list[str]]:
    """The extensions in the environment's labextensions folder, and a message for
    each folder that is not one JupyterLab can load."""
    root = Path(env_dir).resolve()
    top = root / SHARE_SUBDIR
    if not top.is_dir():
        return [], []
    if not top.resolve().is_relative_to(root):  # a link the build made, pointing out
        return [], [f"{SHARE_SUBDIR} leads out of the environment; no extension is used"]
    found: list[Found] = []
    problems: list[str] = []
    folders = _folders(top)
    if len(folders) > MAX_EXTENSIONS:
        problems.append(
            f"{len(folders)} extension folders: only the first {MAX_EXTENSIONS} are looked at"
        )
    for name, folder in folders[:MAX_EXTENSIONS]:
        if folder.is_symlink() or not folder.is_dir():
            problems.append(f"{name}: not a folder of the environment (a link or a file); left out")
            continue
        try:
            package = _read_package(folder)
        except (OSError, ValueError) as exc:
            problems.append(f"{name}: its package.json cannot be read ({exc}); left out")
            continue
        version = _short(package.get("version", "?"), 40)
        if package.get("name") != name or not _NPM_NAME.match(name):
            shown = _short(package.get("name"))
            problems.append(
                f"{name}: its package.json names it {shown!r}, JupyterLab loads an extension "
                "only from the folder of its own name; left out"
            )
            continue
        build = (package.get("jupyterlab") or {}).get("_build")
        if not isinstance(build, dict) or not build.get("load"):
            problems.append(
                f"{name} {version} is not a prebuilt extension (no jupyterlab._build in its "
                "package.json) and course servers do not build JupyterLab; left out"
            )
            continue
        found.append(Found(name, version, package))
    return found, problems


def _servers_own(name: str) -> str | None:
    """The version of the server's own extension `name`, if it has one."""
    folder = Path(sys.prefix) / SHARE_SUBDIR / name
    try:
        return str(_read_package(folder).get("version", "?"))
    except (OSError, ValueError):
        return None


def _needs(wrong: list[tuple[str, str, str]]) -> str:
    return "; ".join(
        f"{pkg} {_short(theirs, 40)} (JupyterLab has {ours})" for pkg, ours, theirs in wrong
    )


def _left_out(found: Found, wrong: list[tuple[str, str, str]], lab: ServerLab) -> str:
    own = _servers_own(found.name)
    instead = f" and the server's own {found.name} {own} is used" if own else ""
    return (
        f"{found.name} {found.version} does not match this server's JupyterLab "
        f"{lab.version}: it needs {_needs(wrong)}. It is left out{instead}; pin a release "
        f"of the Python package that provides it which supports JupyterLab {lab.version}."
    )


def _may_misbehave(found: Found, wrong: list[tuple[str, str, str]], lab: ServerLab) -> str:
    return (
        f"{found.name} {found.version} is active but may not work fully with this server's "
        f"JupyterLab {lab.version}: it asks for {_needs(wrong)}. If it misbehaves, pin a "
        "release of the Python package that provides it which supports this JupyterLab."
    )


def check(env_dir: Path, lab: ServerLab) -> tuple[list[Found], Report]:
    """The extensions to make active, and the report of the environment's extensions.

    One asking for other versions of JupyterLab's own packages (``@jupyterlab/*``) was
    made for another JupyterLab and is left out. Other shared packages out of range
    (``@jupyter/ydoc``, ``@lumino/*``, ...) get a warning only: JupyterLab loads such
    an extension with the versions it has, and many work (jupyterlab-myst 2.7.0 asks
    for ``@jupyter/ydoc ^3`` while JupyterLab 4.6 has 4).
    """
    found, problems = scan(env_dir)
    report = Report(jupyterlab=lab.version, problems=problems)
    active: list[Found] = []
    for ext in found:
        wrong = mismatches(ext.package, lab)
        own_packages = [w for w in wrong if w[0].startswith("@jupyterlab/")]
        if own_packages:
            report.problems.append(_left_out(ext, own_packages, lab))
            continue
        if wrong:
            report.problems.append(_may_misbehave(ext, wrong, lab))
        active.append(ext)
        report.active.append(f"{ext.name} {ext.version}")
        report.problems += _kernel_side_missing(env_dir, ext)
    return active, report


# Extensions whose Python side needs a package its own requirements leave out. plotly
# raises "Mime type rendering requires nbformat" on every figure without it, a
# traceback in each student's notebook instead of the figure.
_KERNEL_SIDE = {"jupyterlab-plotly": "nbformat"}


def _installed(env_dir: Path, project: str) -> bool:
    """Whether the environment has the distribution `project` (its dist-info)."""
    lib = Path(env_dir).resolve() / "lib"
    return any(lib.glob(f"python3*/site-packages/{project}-*.dist-info"))


def _kernel_side_missing(env_dir: Path, ext: Found) -> list[str]:
    needed = _KERNEL_SIDE.get(ext.name)
    if needed is None or _installed(env_dir, needed):
        return []
    return [
        f"{ext.name} draws figures only when {needed} is installed too (without it every "
        f"figure shows an error): add {needed} to the requirements"
    ]


def publish(env_dir: Path, jupyter_dir: Path, lab: ServerLab | None = None) -> Report:
    """Link the environment's extensions that `check` keeps into
    ``jupyter_dir/labextensions`` (replacing the previous set at once) and write the
    report beside it. `env_dir` is the stable environment path the links go through."""
    lab = lab or server_jupyterlab()
    active, report = check(env_dir, lab)
    jupyter_dir = Path(jupyter_dir)
    jupyter_dir.mkdir(parents=True, exist_ok=True)
    jupyter_dir.chmod(0o755)
    target = Path(os.path.abspath(env_dir)) / SHARE_SUBDIR
    generation = jupyter_dir / f".{LINKS_NAME}.{secrets.token_hex(6)}"
    try:
        generation.mkdir(mode=0o755)
        for ext in active:
            link = generation / ext.name
            link.parent.mkdir(mode=0o755, exist_ok=True)
            os.symlink(os.path.relpath(target / ext.name, link.parent), link)
        _swap(jupyter_dir / LINKS_NAME, generation)
        _write_report(jupyter_dir / REPORT_NAME, report)
    except OSError as exc:
        shutil.rmtree(generation, ignore_errors=True)
        raise LabExtensionError(f"cannot write the course's lab extension links: {exc}") from None
    return report


def _swap(links: Path, generation: Path) -> None:
    """Point `links` at `generation` with one rename; remove the sets it replaced."""
    tmp = links.parent / f".{LINKS_NAME}.link-{secrets.token_hex(6)}"
    os.symlink(generation.name, tmp)
    if links.exists() and not links.is_symlink():
        shutil.rmtree(links)
    os.replace(tmp, links)
    prefix = f".{LINKS_NAME}."
    for old in links.parent.iterdir():
        if old.name.startswith(prefix) and old != generation and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)


def _write_report(path: Path, report: Report) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    tmp.write_text(json.dumps(asdict(report), indent=1) + "\n")
    tmp.chmod(0o644)
    os.replace(tmp, path)


def read_report(jupyter_dir: Path) -> Report | None:
    """The report of the course's last build, if there was one since extensions are
    published."""
    try:
        data = json.loads((Path(jupyter_dir) / REPORT_NAME).read_text())
        return Report(
            jupyterlab=str(data["jupyterlab"]),
            active=[str(a) for a in data["active"]],
            problems=[str(p) for p in data["problems"]],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def log_lines(report: Report) -> list[str]:
    """The report as lines for a build's output."""
    active = ", ".join(report.active) or "none"
    lines = [f"coursehub: JupyterLab extensions of the course: {active}"]
    lines += [f"coursehub: warning: {problem}" for problem in report.problems]
    return lines
