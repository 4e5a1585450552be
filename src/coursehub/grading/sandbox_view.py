"""Which host paths a grading sandbox sees (read-only), decided outside the box.

The box starts from nothing (see forking/sandbox_init.build_view) and is shown only what a
Python program needs: the system's programs and libraries, /etc, and the Python
installations that run in it, found from their files (never by running them as
root: a course environment's ``.pth`` files are the instructor's code). Everything
else of the host, the data directory, homes, /run, /var, /srv, /tmp, is absent, so
no path in the box leads to a host socket or a persistent writable folder.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

# /usr (with /usr/local), its merged-/usr links, and /etc (users, ld.so, locale, certs).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# never shown whole, whatever a prefix computes to (sockets, other people's files)
NEVER = frozenset(("/", "/run", "/var", "/tmp", "/srv", "/home", "/root", "/proc", "/sys", "/dev"))


def looks_like_python(program: str) -> bool:
    return os.path.basename(program).startswith("python")


def python_paths(python: str) -> list[str]:
    """The folders `python` needs: its prefix (a venv, with the base installation its
    pyvenv.cfg names) and the folders its site-packages' ``.pth`` files add (editable
    installs), read as the site module would, without running anything."""
    path = os.path.abspath(python)
    real = os.path.realpath(python)
    prefix = os.path.dirname(os.path.dirname(path))
    found = [path, real, os.path.dirname(os.path.dirname(real))]
    cfg = Path(prefix, "pyvenv.cfg")
    if cfg.is_file():
        found.append(prefix)
        for line in cfg.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                found.append(os.path.dirname(value.strip()))
    else:
        found.append(prefix)
    for pth in glob.glob(os.path.join(prefix, "lib*", "python3*", "site-packages", "*.pth")):
        try:
            lines = Path(pth).read_text(errors="replace").splitlines()
        except OSError:
            continue
        found += [line.strip() for line in lines if line.startswith("/") and os.path.isdir(line)]
    return found


def _expand(path: str) -> list[str]:
    """`path` as entries the box can recreate: each symlink on the way (kept as a
    symlink) and the resolved path (bound)."""
    path = os.path.abspath(path)
    current = "/"
    for part in Path(path).parts[1:]:
        current = os.path.join(current, part)
        if os.path.islink(current):
            return [current, *_expand(os.path.realpath(path))]
    return [path]


def readonly_paths(programs: Sequence[str], extra: Iterable[str | Path] = ()) -> list[str]:
    """The host paths shown read-only in the box for running `programs` (each a
    program name or path; Python interpreters bring their installations)."""
    wanted: list[str] = list(SYSTEM_PATHS)
    for program in programs:
        if looks_like_python(program) and os.path.isabs(program):
            wanted += python_paths(program)
    wanted += [str(p) for p in extra]
    entries: set[str] = set()
    for path in wanted:
        if os.path.lexists(path):
            entries.update(e for e in _expand(path) if e not in NEVER)
    # a folder already shown brings what is under it
    folders = sorted(e for e in entries if not os.path.islink(e))
    kept: list[str] = []
    for entry in sorted(entries):
        inside = any(entry != f and entry.startswith(f.rstrip("/") + "/") for f in folders)
        if not inside:
            kept.append(entry)
    return kept
