"""An instructor uploads an nbgrader assignment; the service (root) makes the student
version with nbgrader's generate step, which must run nothing the instructor wrote:
not the notebook's cells, not an `nbgrader_config.py` or `jupyter_config.py` put in
the uploaded folder. (Otter uploads, whose test files are code, are made in the
grading sandbox: tests/security/test_instructor_root.py.)"""

from __future__ import annotations

from pathlib import Path

import nbformat

from coursehub.db.session import Database
from coursehub.grading import lifecycle
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from tests.helpers.assignments import nbgrader_source


def _plant(source: Path, marker: Path) -> None:
    """Code that would leave `marker` wherever nbgrader's generate step ran it."""
    leave = f"open({str(marker)!r}, 'a').write('ran\\n')\n"
    notebook = source / "ps1.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[1].source = leave + nb.cells[1].source  # the solution cell
    nb.cells[2].source = leave + nb.cells[2].source  # the test cell
    nbformat.write(nb, notebook)
    for config in ("nbgrader_config.py", "jupyter_config.py", "ipython_config.py"):
        (source / config).write_text(leave)


def test_an_nbgrader_upload_runs_none_of_its_code(db: Database, tmp_path: Path) -> None:
    marker = tmp_path / "ran-as-the-service"
    source = nbgrader_source(tmp_path / "upload")
    _plant(source, marker)
    grading = GradingStore(db, GradingPaths(tmp_path / "data"))
    assignment = lifecycle.create(grading, "algebra", "ps1", source, fmt="nbgrader")
    assert assignment.max_points == 3  # the questions were read
    released = grading.paths.student_version("algebra", "ps1", "nbgrader") / "ps1.ipynb"
    assert "BEGIN HIDDEN TESTS" not in released.read_text()  # the student version was made
    assert not marker.exists(), marker.read_text()
