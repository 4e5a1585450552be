"""Which kernels a course's notebooks ask for.

A notebook names its kernel in its metadata (``metadata.kernelspec.name``, with the
language in ``kernelspec.language`` or ``language_info.name``); a Jupytext or MyST text
notebook in the ``kernelspec`` key of its header. Nearly every Python notebook says
``python3``, others name the environment they were written in (``conda-env-ds-py``,
``py39``). The course's kernel answers for every Python name found here
(courses/course_kernel.py); a notebook asking for another language is told so on its
link's page before JupyterLab opens (service/routes/courses/kernel_notice.py).

Runs as root over files an instructor pushed: sizes are bounded, symlinks are never
followed, and nothing found is more than a name.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from coursehub.config.yaml_errors import parse_mapping
from coursehub.courses.tracks import is_notebook

MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024  # a notebook's JSON is parsed whole for its metadata
MAX_NOTEBOOKS = 5000  # notebooks read per scan; the rest of a huge repository is skipped
MAX_NAMES = 64  # Python kernel names kept: a kernel.json stays small
HEADER_BYTES = 16 * 1024  # a text notebook's header is at its top
# Jupyter's own rule for kernelspec names (matched case-insensitively).
_KERNEL_NAME_RE = re.compile(r"^[a-z0-9._-]{1,64}$", re.IGNORECASE)
_TEXT_SUFFIXES = {".md", ".py"}


@dataclass(frozen=True)
class KernelRequest:
    """The kernel a notebook asks for. `language` as the notebook writes it, "" when unsaid."""

    name: str
    language: str = ""
    display_name: str = ""

    @property
    def is_python(self) -> bool:
        if self.language:
            return self.language.lower() in {"python", "python3", "ipython", "ipython3"}
        # Older notebooks and hand-written metadata say only the name.
        return "py" in self.name.lower()

    def describe(self) -> str:
        """e.g. ``'ir' (R)``, for messages."""
        shown = self.display_name or self.language
        return f"{self.name!r} ({shown})" if shown and shown != self.name else repr(self.name)


@dataclass
class KernelScan:
    """What a repository's notebooks ask for."""

    python_names: set[str] = field(default_factory=set)  # lower case, valid names only
    others: dict[str, KernelRequest] = field(default_factory=dict)  # other languages by name
    notebooks: int = 0  # notebooks read
    skipped: int = 0  # too large, unreadable, or beyond MAX_NOTEBOOKS


def notebook_kernel(path: Path) -> KernelRequest | None:
    """The kernel the notebook at `path` asks for; None when it names none or cannot be
    read. `path` is opened without following a symlink."""
    try:
        seen = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    # Each link opened asks again: a large notebook is parsed once per version.
    return _read_kernel(str(path), seen.st_mtime_ns, seen.st_size, seen.st_ino)


@lru_cache(maxsize=1024)
def _read_kernel(path: str, _mtime: int, _size: int, _inode: int) -> KernelRequest | None:
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".ipynb":
            return _from_ipynb(Path(path))
        if suffix in _TEXT_SUFFIXES:
            return _from_text_header(Path(path))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return None


def scan_repository(repo: Path) -> KernelScan:
    """Every kernel the notebooks of `repo` ask for (hidden folders and symlinks skipped)."""
    scan = KernelScan()
    for path in _notebook_files(Path(repo)):
        if scan.notebooks >= MAX_NOTEBOOKS:
            scan.skipped += 1
            continue
        scan.notebooks += 1
        request = notebook_kernel(path)
        if request is None:
            continue
        name = request.name.lower()
        if not _KERNEL_NAME_RE.match(name):
            continue  # Jupyter could not name a kernelspec so anyway
        if request.is_python:
            if name in scan.python_names or len(scan.python_names) < MAX_NAMES:
                scan.python_names.add(name)
        elif name not in scan.others and len(scan.others) < MAX_NAMES:
            scan.others[name] = request
    return scan


def _notebook_files(repo: Path) -> list[Path]:
    if not repo.is_dir():
        return []
    found: list[Path] = []
    # followlinks=False and no symlinked file: the walk never leaves the repository.
    for folder, dirs, names in os.walk(repo, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
        for name in sorted(names):
            path = Path(folder) / name
            suffix = path.suffix.lower()
            if name.startswith(".") or path.is_symlink():
                continue
            if suffix == ".ipynb" or (suffix in _TEXT_SUFFIXES and is_notebook(path)):
                found.append(path)
    return found


def _open(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)


def _from_ipynb(path: Path) -> KernelRequest | None:
    fd = _open(path)
    with os.fdopen(fd, "rb") as file:
        if os.fstat(file.fileno()).st_size > MAX_NOTEBOOK_BYTES:
            return None
        data = json.loads(file.read())
    metadata = data.get("metadata") if isinstance(data, dict) else None
    if not isinstance(metadata, dict):
        return None
    return _request(metadata.get("kernelspec"), metadata.get("language_info"))


def _head(path: Path) -> str:
    fd = _open(path)
    with os.fdopen(fd, "rb") as file:
        return file.read(HEADER_BYTES).decode("utf-8", errors="replace").removeprefix("\ufeff")


def _from_text_header(path: Path) -> KernelRequest | None:
    """The ``kernelspec`` of a MyST/Jupytext header: ``---`` lines around YAML, each line
    commented with ``# `` in a .py file."""
    lines = _head(path).splitlines()
    prefix = "#" if path.suffix.lower() == ".py" else ""
    if prefix and lines and lines[0].startswith("#!"):
        lines = lines[1:]  # jupytext keeps a shebang above the header

    def strip(line: str) -> str | None:
        if not line.startswith(prefix):
            return None
        text = line[len(prefix) :]
        return text[1:] if prefix and text.startswith(" ") else text

    if not lines or (strip(lines[0]) or "").strip() != "---":
        return None
    body: list[str] = []
    for line in lines[1:]:
        text = strip(line)
        if text is None:
            return None
        if text.strip() == "---":
            break
        body.append(text)
    else:
        return None  # header not closed within HEADER_BYTES
    data, problems = parse_mapping("\n".join(body), path.name)
    if problems:
        return None
    jupyter = data.get("jupyter")  # jupytext's .py header nests it under jupyter:
    header = jupyter if isinstance(jupyter, dict) and "kernelspec" in jupyter else data
    return _request(header.get("kernelspec"), header.get("language_info"))


def _request(kernelspec: object, language_info: object) -> KernelRequest | None:
    if not isinstance(kernelspec, dict):
        return None
    name = kernelspec.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    language = kernelspec.get("language")
    if not isinstance(language, str) and isinstance(language_info, dict):
        language = language_info.get("name")
    display = kernelspec.get("display_name")
    return KernelRequest(
        name=name.strip()[:100],
        language=language.strip()[:40] if isinstance(language, str) else "",
        display_name=display.strip()[:100] if isinstance(display, str) else "",
    )
