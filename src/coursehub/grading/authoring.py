"""Assignment authoring where an instructor's code cannot reach root.

An uploaded assignment is the instructor's code: `otter assign` parses it and the
test files it writes are Python (an exception-format test file runs whatever its
decorators say when it is read). As root, all of that runs in the grading sandbox as
its throwaway account (coursehub.grading.author_worker); the service keeps only the
outputs, taken as data: one bounded JSON file, and the student version's regular
files, copied without following links. Without root there is nothing to protect
beyond the service's own account, and the worker runs as that account.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursehub.grading.errors import AssignmentError
from coursehub.grading.sandbox import SandboxError, SandboxLimits, run_sandboxed
from coursehub.grading.store import MAX_BYTES, MAX_FILES

LIMITS = SandboxLimits(
    cpu_seconds=300, memory=2 * 1024**3, processes=64, file_size=64 * 1024**2, wall_seconds=600
)
MAX_RESULT = 16 * 1024**2  # bytes of the worker's result.json


@dataclass(frozen=True)
class OtterOutput:
    notebook: str  # the master notebook's name (also the student notebook's)
    tests: dict[str, Any]  # question -> OK-format test, as otter wrote it


def otter_assign(source: Path, work: Path, release: Path) -> OtterOutput:
    """`otter assign` on the master notebook in `source`, run in `work` (a folder of the
    data directory, removed afterwards); the student version goes to `release`."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, mode=0o700)
    try:
        shutil.copytree(source, work / "source", symlinks=False)
        argv = [sys.executable, "-P", "-m", "coursehub.grading.author_worker", "otter"]
        _run([*argv, str(work / "source"), str(work / "out")], work)
        data = json.loads(_read_regular(work / "out" / "result.json", MAX_RESULT))
        output = _otter_output(data)
        copy_plain_tree(work / "out" / "student", release)
        return output
    except (OSError, ValueError) as exc:
        raise AssignmentError(f"otter assign left no usable result: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(argv: list[str], work: Path) -> None:
    bindir = str(Path(sys.executable).parent)  # otter runs jupyter tools from its venv
    env = {"PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin"}
    if os.geteuid() == 0:
        try:
            result = run_sandboxed(argv, work, LIMITS, env=env)
        except SandboxError as exc:
            raise AssignmentError(f"assignments cannot be made here: {exc}") from None
        code, err, why = result.returncode, result.stderr, result.outcome
    else:
        done = subprocess.run(
            argv,
            cwd=work,
            env={**env, "HOME": str(work), "LANG": "C.UTF-8"},
            capture_output=True,
            timeout=LIMITS.wall_seconds,
        )
        code, err, why = done.returncode, done.stderr, f"exit status {done.returncode}"
    if code != 0:
        said = err.decode("utf-8", "replace").strip()
        if code != 2 or not said:  # 2: the worker's own message for the instructor
            said = f"{why}\n{said[-1500:]}".strip()
        raise AssignmentError(said[-2000:])


def _otter_output(data: Any) -> OtterOutput:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    notebook, tests = data.get("notebook"), data.get("tests")
    if not isinstance(notebook, str) or "/" in notebook or not notebook.endswith(".ipynb"):
        raise ValueError(f"bad notebook name {notebook!r}")
    if not isinstance(tests, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) for k, v in tests.items()
    ):
        raise ValueError("the tests must map question names to OK-format tests")
    return OtterOutput(notebook, tests)


def _read_regular(path: Path, limit: int) -> bytes:
    """A regular file's content, never through a link, at most `limit` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"{path.name} is over {limit} bytes")
    return data


def copy_plain_tree(source: Path, target: Path) -> None:
    """Copy folders and regular files only (links and devices are left out), within
    the limits of an assignment's files."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    total = files = 0
    for folder, dirs, names in os.walk(source, followlinks=False):
        here = Path(folder)
        rel = here.relative_to(source)
        for name in dirs:
            if not (here / name).is_symlink():
                (target / rel / name).mkdir()
        for name in names:
            if not stat.S_ISREG(os.lstat(here / name).st_mode):
                continue
            data = _read_regular(here / name, MAX_BYTES - total)
            total += len(data)
            files += 1
            if files > MAX_FILES:
                raise ValueError(f"the student version has over {MAX_FILES} files")
            (target / rel / name).write_bytes(data)
