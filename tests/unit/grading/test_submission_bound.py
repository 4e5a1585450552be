"""Submissions are a table (and files) a student writes to: each student's attempts at
one assignment are bounded, and past the bound they get a clear refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursehub.db.session import Database
from coursehub.grading import store as store_module
from coursehub.grading.errors import SubmissionError
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore


def test_a_student_cannot_store_submissions_without_bound(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_ATTEMPTS", 3)
    grading = GradingStore(db, GradingPaths(tmp_path / "data"))
    a = grading.save_assignment("algebra", "ps1", "nbgrader", [], ["ps1.ipynb"])
    for n in range(3):
        grading.submit(a, "sam", {"ps1.ipynb": f"attempt {n}".encode()})
    # a double click on the last one is still the same submission, not a refusal
    again = grading.submit(a, "sam", {"ps1.ipynb": b"attempt 2"})
    assert again.duplicate
    with pytest.raises(SubmissionError, match="already has your 3 submissions"):
        grading.submit(a, "sam", {"ps1.ipynb": b"attempt 4"})
    assert len(grading.submissions(a.id, "sam")) == 3
    # the bound is per student
    grading.submit(a, "ann", {"ps1.ipynb": b"mine"})
