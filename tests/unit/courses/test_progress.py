"""Notebook status: what a student sees for each course notebook, from three hashes."""

from __future__ import annotations

import pytest

from coursehub.courses.progress import CopyRecord, ProgressStore, Status, status_of
from coursehub.db import models
from coursehub.db.session import Database

OLD, NEW, MINE = "a" * 64, "b" * 64, "c" * 64


def _record(source: str = OLD) -> CopyRecord:
    now = models.utcnow()
    return CopyRecord("nb.ipynb", source, now, now, 1)


@pytest.mark.parametrize(
    ("record", "course", "mine", "label"),
    [
        (None, OLD, None, "not opened"),
        (_record(), OLD, OLD, "opened"),
        (_record(), OLD, MINE, "modified"),
        (_record(), NEW, OLD, "opened · course version changed"),
        (_record(), NEW, MINE, "modified · course version changed"),
        (_record(), OLD, None, "not in your workspace"),
        (_record(), None, MINE, "modified"),  # the course dropped the notebook
    ],
)
def test_status_labels(record, course, mine, label) -> None:  # noqa: ANN001
    assert status_of("nb.ipynb", record, course, mine).label == label


@pytest.fixture
def store(stats_db: Database) -> ProgressStore:
    return ProgressStore(stats_db)


def test_opens_counted_per_student_and_copies_remember_their_source(store: ProgressStore) -> None:
    store.record_open("stats", "alice", "a.ipynb", OLD)
    store.record_open("stats", "alice", "a.ipynb", None)  # opened again: her copy kept
    store.record_open("stats", "bob", "a.ipynb", OLD)
    store.record_open("stats", "bob", "b.ipynb", OLD)
    store.record_open("stats", "tina", "a.ipynb", OLD)  # staff: not in the list below
    counts = store.open_counts("stats", ["alice", "bob"])
    assert counts == {"a.ipynb": 2, "b.ipynb": 1}
    alice = store.copies("stats", "alice")
    assert alice["a.ipynb"].opens == 2 and alice["a.ipynb"].source_sha256 == OLD
    # a file the student had before any copy is not counted as a copy
    store.record_open("stats", "carol", "a.ipynb", None)
    assert store.copies("stats", "carol") == {}
    # a reset starts the copy again from the new course version
    store.record_reset("stats", "alice", "a.ipynb", NEW)
    assert store.copies("stats", "alice")["a.ipynb"].source_sha256 == NEW
    assert store.activity("stats")["bob"][0] == 2
    assert store.copies("stats", "bob")["a.ipynb"].path == "a.ipynb"
    assert Status.OPENED.value == "opened"
