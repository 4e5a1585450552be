"""Deleting an assignment while a student submits: the student's request read the
assignment before collecting their files (which takes a while), the deletion closes it
meanwhile, keeps a backup and removes it. The submission is refused, never stored
between the backup and the removal (where it would be lost with no copy)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from coursehub.db.session import Database
from coursehub.grading import archive
from coursehub.grading.errors import SubmissionError
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore


def test_a_submission_read_before_the_deletion_is_refused_not_lost(
    db: Database, tmp_path: Path
) -> None:
    grading = GradingStore(db, GradingPaths(tmp_path / "data"))
    a = grading.save_assignment("algebra", "ps1", "nbgrader", [], ["ps1.ipynb"])
    grading.submit(a, "ann", {"ps1.ipynb": b"ann's work"})
    stale = grading.get("algebra", "ps1")  # sam's request, before his files are read

    # the deletion closes the assignment first; sam's files arrive only then
    grading.update_assignment(a.id, closed=True, released_at=None)
    with pytest.raises(SubmissionError, match="closed"):
        grading.submit(stale, "sam", {"ps1.ipynb": b"sam's work"})
    grading.update_assignment(a.id, closed=False)

    done = archive.delete(grading, "algebra", "ps1", with_submissions=True)
    with tarfile.open(done.backup) as tar:
        kept = {m.name for m in tar.getmembers() if m.isfile()}
    assert any(name.startswith("files/submissions/ann/") for name in kept), kept
    # and once deleted, the request that read it before takes nothing either
    with pytest.raises(SubmissionError):
        grading.submit(stale, "sam", {"ps1.ipynb": b"sam's work"})
