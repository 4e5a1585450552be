"""Deleting an assignment, with everything it held kept first in one backup file.

A mistyped assignment must be removable, but a click must never lose students' work:
before anything is removed, the assignment goes into
``<data>/backups/deleted-assignments/<course>-<name>-<UTC time>.tar.gz`` (root only):

    assignment.json       the row and its extensions
    submissions.json      every attempt, with its gradings and grades given by hand
    grades.csv            the gradebook as exported
    files/source/         the instructor's sources (solutions and hidden tests)
    files/student-version/
    files/submissions/<student>/<id>/
    files/feedback/<id>/

An assignment with submissions is deleted only when the caller confirmed that too.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from coursehub.db.models import Assignment, Extension
from coursehub.grading import gradebook, lifecycle
from coursehub.grading.errors import HasSubmissions
from coursehub.grading.paths import ensure_private
from coursehub.grading.store import GradingStore


@dataclass(frozen=True)
class Deleted:
    backup: Path  # the backup file
    submissions: int
    students: int


def _plain(row: Any) -> dict[str, Any]:
    """A database row as JSON-ready data (times in ISO 8601, UTC)."""
    data = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        data[column.key] = value.isoformat() if isinstance(value, datetime) else value
    return data


def _folders(store: GradingStore, row: Assignment) -> dict[str, Path]:
    paths = store.paths
    if row.format == "nbgrader":
        source = paths.nbgrader_root(row.course) / "source" / row.name
    else:
        source = paths.otter_root(row.course, row.name) / "source"
    return {
        "files/source": source,
        "files/student-version": paths.student_version(row.course, row.name, row.format),
        "files/submissions": paths.data_dir / "submissions" / row.course / row.name,
    }


def _add_json(tar: tarfile.TarFile, name: str, data: Any) -> None:
    blob = json.dumps(data, indent=1, default=str).encode()
    _add_bytes(tar, name, blob)


def _add_bytes(tar: tarfile.TarFile, name: str, blob: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(blob), 0o600, int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(blob))


def backup(store: GradingStore, row: Assignment) -> Path:
    """Write the assignment's backup file (see the module's docstring); its path."""
    folder = ensure_private(store.paths.deleted_backups())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = folder / f"{row.course}-{row.name}-{stamp}.tar.gz"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{row.course}-{row.name}-{stamp}-{n}.tar.gz"
    partial = target.with_name(target.name + ".partial")
    submissions = store.submissions(row.id)
    with store.db.session() as s:
        extensions = list(s.scalars(select(Extension).where(Extension.assignment_id == row.id)))
    attempts = []
    for sub in submissions:
        gradings = store.gradings_of(sub.id)
        manual = store.manual_grades(sub.id)
        attempts.append(
            {
                **_plain(sub),
                "gradings": [_plain(g) for g in gradings],
                "manual_grades": [_plain(m) for m in manual.values()],
            }
        )
    students = sorted({s.username for s in submissions})
    csv = gradebook.to_csv(row, gradebook.gradebook(store, row, students))
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                _add_json(tar, "assignment.json", {
                    **_plain(row),
                    "questions": json.loads(row.questions),
                    "files": json.loads(row.files),
                    "extensions": [_plain(e) for e in extensions],
                })  # fmt: skip
                _add_json(tar, "submissions.json", attempts)
                _add_bytes(tar, "grades.csv", csv.encode())
                for name, path in _folders(store, row).items():
                    if path.is_dir():
                        tar.add(path, arcname=name)
                for sub in submissions:
                    feedback = store.paths.feedback(row.course, sub.id)
                    if feedback.is_dir():
                        tar.add(feedback, arcname=f"files/feedback/{sub.id}")
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def _has(name: str, submissions: list[Any]) -> HasSubmissions:
    students = len({s.username for s in submissions})
    return HasSubmissions(
        f"{name} has {len(submissions)} submission(s) from {students} student(s); deleting "
        "it removes them and their grades (a backup file keeps them): confirm that too",
        len(submissions),
        students,
    )


def delete(store: GradingStore, course: str, name: str, with_submissions: bool = False) -> Deleted:
    """Delete the assignment after keeping it in a backup file. With submissions, only
    when `with_submissions` (else HasSubmissions, and nothing changes)."""
    row = store.get(course, name)
    submissions = store.submissions(row.id)
    if submissions and not with_submissions:
        raise _has(name, submissions)
    # Closed and hidden first, so no submission arrives between the backup and the removal.
    store.update_assignment(row.id, closed=True, released_at=None)
    try:
        if not with_submissions and store.submissions(row.id):
            raise _has(name, store.submissions(row.id))  # one came in as it was closed
        kept = backup(store, row)
        while {s.id for s in store.submissions(row.id)} != {s.id for s in submissions}:
            submissions = store.submissions(row.id)  # one came in as it was closed
            kept.unlink()
            kept = backup(store, row)
    except BaseException:
        store.update_assignment(row.id, closed=row.closed, released_at=row.released_at)
        raise
    lifecycle.remove(store, course, name)
    students = len({s.username for s in submissions})
    return Deleted(kept, len(submissions), students)
