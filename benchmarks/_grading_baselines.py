"""The grading benchmark's baselines: nbgrader's own CLI on a course directory, and
otter's own grader in a process of its own (``_grading_otter.py``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from _grading_measure import Measured, MeasureError, run_measured

HERE = Path(__file__).resolve().parent
LOG_FORMAT = "%(asctime)s.%(msecs)03d [%(name)s|%(levelname)s] %(message)s"
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \[AutogradeApp\|\w+\] (.*)$")
_START = re.compile(r"Creating/updating student with ID '([^']+)'")
_END = "Setting destination file permissions"


def venv_env() -> dict[str, str]:
    """nbgrader runs `alembic` from its own venv, so the venv's bin goes first on PATH."""
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}


def nbgrader_course(course: Path, sources: dict[str, Path]) -> Path:
    """An nbgrader course directory with each source folder as an assignment, its
    student version made by `nbgrader generate_assignment` (not timed)."""
    for name, folder in sources.items():
        shutil.copytree(folder, course / "source" / name)
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", name,
             f"--CourseDirectory.root={course}"],
            cwd=course, env=venv_env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise MeasureError(
                f"nbgrader generate_assignment {name} failed:\n{done.stderr[-2000:]}"
            )
    return course


def place(course: Path, name: str, answers: list[dict[str, Any]]) -> None:
    """Submissions where `nbgrader autograde` looks: submitted/<student>/<assignment>/."""
    for a in answers:
        folder = course / "submitted" / a["username"] / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(a["path"], folder / a["notebook"])


def autograde(course: Path, name: str, log: Path, timeout: float) -> Measured:
    """`nbgrader autograde <name>`: every submission of the course, one after the other."""
    return run_measured(
        [sys.executable, "-m", "nbgrader", "autograde", name,
         f"--CourseDirectory.root={course}", f"--Application.log_format={LOG_FORMAT}"],
        log=log, timeout=timeout, env=venv_env(), cwd=course,
    )  # fmt: skip


def seconds_per_submission(log: Path) -> dict[str, float]:
    """From autograde's log: each student's time, from "Creating/updating student"
    to its last "Setting destination file permissions" (autograde's last step)."""
    spans: dict[str, list[datetime]] = {}
    current: str | None = None
    for line in log.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
        if start := _START.search(m.group(2)):
            current = start.group(1)
            spans[current] = [at, at]
        elif current is not None and m.group(2).startswith(_END):
            spans[current][1] = at
    return {user: (end - begin).total_seconds() for user, (begin, end) in spans.items()}


def nbgrader_scores(course: Path, name: str, users: list[str]) -> list[dict[str, Any]]:
    """Points per grade cell and total, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    out = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for user in users:
            try:
                sub = gb.find_submission(name, user)
            except MissingEntry:
                out.append({"total": None, "questions": {}})
                continue
            questions = {g.name: float(g.score) for nb in sub.notebooks for g in nb.grades}
            out.append({"total": float(sub.score), "questions": questions})
    return out


def otter(spec: Path, log: Path, timeout: float, cwd: Path) -> Measured:
    return run_measured(
        [sys.executable, str(HERE / "_grading_otter.py"), str(spec)],
        log=log, timeout=timeout, env=venv_env(), cwd=cwd,
    )  # fmt: skip
