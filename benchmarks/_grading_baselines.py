"""Set-up of the grading benchmark's baselines (not timed): the nbgrader course
directory and its submissions, and the environment the baselines run in. The baselines
themselves are ``_grading_otter.py`` and ``_grading_nbgrader.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from _grading_measure import MeasureError


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


def otter_autograder(source: Path, out: Path) -> Path:
    """The autograder zip `otter assign` makes from the master notebook in `source`
    (not timed), as an instructor grading with otter directly makes it."""
    shutil.copytree(source, out / "source")
    masters = sorted((out / "source").glob("*.ipynb"))
    if len(masters) != 1:
        raise MeasureError(f"expected one master notebook in {source}, found {len(masters)}")
    done = subprocess.run(
        [sys.executable, "-m", "otter", "assign", "--no-run-tests", "--no-pdfs",
         masters[0].name, str(out / "dist")],
        cwd=out / "source", env=venv_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    zips = sorted((out / "dist" / "autograder").glob("*.zip"))
    if done.returncode != 0 or len(zips) != 1:
        raise MeasureError(f"otter assign failed (made {len(zips)} zips):\n{done.stderr[-2000:]}")
    return zips[0]
