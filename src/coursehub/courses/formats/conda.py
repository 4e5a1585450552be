"""A conda ``environment.yml`` turned into what pip can install.

Its ``pip:`` part is pip's already. Each conda package is installed from PyPI under
its PyPI name when it has one: a short map covers the names that differ (``pytorch`` is
``torch``) or that are no Python package at all (``python``, ``nodejs``, ``r-*``,
compilers and C libraries); any other name is tried on PyPI as it is, and the build
reports those pip could not install. Conda's version syntax is translated
(``numpy=1.26`` is ``numpy==1.26.*``); channels and build strings are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from coursehub.config.yaml_errors import TooManyNodes, parse_mapping, to_plain
from coursehub.courses.formats.reading import FormatError, problem

# conda name -> PyPI name; None: not a Python package on PyPI (the rest is tried as is)
CONDA_TO_PYPI: dict[str, str | None] = {
    "python": None,
    "pip": None,
    "conda": None,
    "mamba": None,
    "nodejs": None,
    "nb_conda": None,
    "nb_conda_kernels": None,
    "cudatoolkit": None,
    "cudnn": None,
    "compilers": None,
    "gcc": None,
    "gxx": None,
    "gfortran": None,
    "make": None,
    "git": None,
    "openjdk": None,
    "ffmpeg": None,
    "graphviz": None,  # the command-line tools; the Python package is python-graphviz
    "pandoc": None,  # the converter; "pandoc" on PyPI is another project
    "gdal": None,
    "proj": None,
    "geos": None,
    "hdf5": None,
    "openblas": None,
    "mkl": None,
    "blas": None,
    "tk": None,
    "zlib": None,
    "openssl": None,
    "ca-certificates": None,
    "qt": None,
    "texlive-core": None,
    "julia": None,
    "octave": None,
    "xeus-cling": None,
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "python-graphviz": "graphviz",
    "matplotlib-base": "matplotlib",
    "pyqt": "PyQt5",
    "pytables": "tables",
    "msgpack-python": "msgpack",
    "ruamel_yaml": "ruamel.yaml",
    "tensorflow-cpu": "tensorflow-cpu",
}
_NOT_PYPI_PREFIXES = ("r-", "lib", "_", "cuda-", "perl-", "ocaml-")
# every course environment has them: the server's own Python, and pip
PROVIDED = frozenset({"python", "pip"})
_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(.*)$")
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.*+!_-]*$")
_COMPARE = re.compile(r"^(==|>=|<=|!=|~=|>|<)\s*[0-9][0-9A-Za-z.*+!_-]*$")


@dataclass
class CondaPlan:
    pip: list[str] = field(default_factory=list)  # the pip: part, as written
    conda: list[str] = field(default_factory=list)  # conda packages as pip requirements
    skipped: list[str] = field(default_factory=list)  # conda packages not on PyPI


def conda_plan(text: str, name: str) -> CondaPlan:
    data, problems = parse_mapping(text, name)
    if problems:
        raise FormatError(problems)
    try:
        plain = to_plain(data)
    except TooManyNodes as exc:
        raise FormatError([problem(name, str(exc))]) from None
    deps = plain.get("dependencies") or []
    if not isinstance(deps, list):
        raise FormatError([problem(name, "expected a list", "dependencies")])
    plan = CondaPlan()
    for i, dep in enumerate(deps):
        if isinstance(dep, dict):
            pip = dep.get("pip")
            if not isinstance(pip, list) or not all(isinstance(p, str) for p in pip):
                raise FormatError(
                    [problem(name, "expected a list of pip requirements", f"dependencies[{i}].pip")]
                )
            for j, entry in enumerate(pip):
                # pip reads these from a file, one per line: a line break inside one
                # would give pip a line the requirement rules never saw
                if any(ord(c) < 32 for c in entry.strip()):
                    where = f"dependencies[{i}].pip[{j}]"
                    raise FormatError(
                        [problem(name, "a pip requirement is one line, without line breaks", where)]
                    )
            plan.pip += [p.strip() for p in pip if p.strip()]
        elif isinstance(dep, str | int | float) and str(dep).strip():
            requirement = pypi_requirement(str(dep).strip())
            if _conda_name(str(dep)) in PROVIDED:
                continue
            if requirement is None:
                plan.skipped.append(str(dep).strip())
            else:
                plan.conda.append(requirement)
        else:
            raise FormatError([problem(name, "expected a package name", f"dependencies[{i}]")])
    return plan


def _conda_name(spec: str) -> str:
    match = _SPEC.match(spec.rpartition("::")[2].strip())
    return match[1].lower() if match else ""


def pypi_requirement(spec: str) -> str | None:
    """The pip requirement for a conda package spec, or None when it is not on PyPI."""
    spec = spec.rpartition("::")[2].split("[", 1)[0].strip()  # channel::name[build=...]
    match = _SPEC.match(spec)
    if match is None:
        return None
    conda_name, version = match[1], match[2].strip()
    key = conda_name.lower()
    if key in CONDA_TO_PYPI:
        pypi = CONDA_TO_PYPI[key]
        if pypi is None:
            return None
    elif key.startswith(_NOT_PYPI_PREFIXES):
        return None
    else:
        pypi = conda_name
    return pypi + _pip_version(version)


def _pip_version(version: str) -> str:
    """conda's version part as pip's, or '' when it cannot be said in pip's terms."""
    if not version or "|" in version:
        return ""
    if version.startswith("=") and not version.startswith("=="):
        version = version[1:].split("=", 1)[0]  # =1.2=build_0: a fuzzy 1.2
        return _fuzzy(version)
    if version.startswith("=="):
        pinned = version[2:].split("=", 1)[0].strip()
        return "==" + pinned if _VERSION.match(pinned) else ""
    if " " in version and not any(version.startswith(c) for c in "<>!~"):
        version = version.split()[0]  # "1.2 py_0": version then build
    if _VERSION.match(version):
        return _fuzzy(version)
    parts = [p.strip() for p in version.split(",")]
    if all(_COMPARE.match(p) for p in parts):
        return ",".join(parts)
    return ""


def _fuzzy(version: str) -> str:
    if not _VERSION.match(version):
        return ""
    version = version.rstrip("*").rstrip(".")
    return f"=={version}.*" if version else ""
