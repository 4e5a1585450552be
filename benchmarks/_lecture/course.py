"""The lecture's course: a real git repository whose first notebook needs the course's
environment.

The notebook names the ``python3`` kernel in its metadata, as real notebooks do; its
first cell imports a package that only the course's requirements bring (``tabulate``:
coursehub builds it into the course environment with ``coursehub course build``; the
baseline's admin installs the same requirements into its hub's environment).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from _storm.course_repo import BRANCH, GIT_ENV

NAME = "lecture-course"  # the repository (and nbgitpuller's folder)
COURSE = "lecture"  # the course's name in coursehub
NOTEBOOK = "notebooks/01-first-lecture.ipynb"
REQUIREMENTS = ("tabulate==0.10.0",)
FIRST_CELL = (
    "from tabulate import tabulate\n"
    'print(tabulate([["Lyon", 522969], ["Nantes", 320732]], headers=["city", "population"]))'
)
EXPECTED = "Nantes"  # in the first cell's output: the course environment answered


def write(repo: Path) -> None:
    """The course's files and one commit on ``main``."""
    (repo / "notebooks").mkdir(parents=True)
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }  # fmt: skip
    )
    nb.cells.append(new_markdown_cell("# First lecture\n\nRun the first cell."))
    nb.cells.append(new_code_cell(FIRST_CELL))
    for i in range(1, 6):
        nb.cells.append(new_markdown_cell(f"## Step {i}"))
        nb.cells.append(new_code_cell(f"values = [x ** {i} for x in range(10)]\nsum(values)"))
    nbformat.write(nb, repo / NOTEBOOK)
    (repo / "requirements.txt").write_text("".join(f"{r}\n" for r in REQUIREMENTS))
    (repo / "course.yaml").write_text(
        "title: First lecture\nenvironment:\n  requirements: requirements.txt\n"
    )
    (repo / "README.md").write_text("# First lecture\n")
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", BRANCH], ["add", "."], ["commit", "-q", "-m", "Week 1"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
