"""The gradebook: per student, the latest submission's points per question (staff's
manual points where given, the autograder's otherwise), and its CSV export."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coursehub.db.models import Assignment, Grading, ManualGrade
from coursehub.grading.store import GradingStore


@dataclass
class Row:
    username: str
    submission_id: int | None = None
    attempt: int = 0
    attempts: int = 0
    submitted_at: datetime | None = None
    late_seconds: int = 0
    status: str = "not submitted"  # not submitted | queued | running | graded | failed
    points: dict[str, float | None] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    total: float | None = None
    pending_manual: bool = False
    notes: list[str] = field(default_factory=list)


def combine(
    grading: Grading | None, manual: dict[str, ManualGrade], questions: list[dict[str, Any]]
) -> tuple[dict[str, float | None], float | None, bool]:
    """Points per question, the total, and whether manual grading is still due."""
    auto: dict[str, Any] = json.loads(grading.questions) if grading and grading.questions else {}
    points: dict[str, float | None] = {}
    pending = False
    for q in questions:
        name = q["name"]
        given = manual.get(name)
        if given is not None and given.points is not None:
            points[name] = given.points
        elif name in auto:
            points[name] = auto[name].get("points")
        else:
            points[name] = None
        if points[name] is None and q.get("kind") == "manual":
            pending = True
    if grading is None or grading.state != "done":
        return points, None, pending
    return points, sum(p or 0.0 for p in points.values()), pending


def gradebook(store: GradingStore, assignment: Assignment, students: list[str]) -> list[Row]:
    questions = json.loads(assignment.questions)
    rows: dict[str, Row] = {name: Row(name) for name in students}
    by_user: dict[str, list] = {}
    for sub in store.submissions(assignment.id):
        by_user.setdefault(sub.username, []).append(sub)
    for username, subs in by_user.items():
        latest = subs[-1]
        row = rows.setdefault(username, Row(username))
        row.submission_id, row.attempt, row.attempts = latest.id, latest.attempt, len(subs)
        row.submitted_at, row.late_seconds = latest.submitted_at, latest.late_seconds
        current = store.latest_grading(latest.id, finished=False)
        finished = store.latest_grading(latest.id)
        manual = store.manual_grades(latest.id)
        row.points, row.total, row.pending_manual = combine(finished, manual, questions)
        row.comments = {q: m.comment for q, m in manual.items() if m.comment}
        if current is not None and current.state in ("queued", "running"):
            row.status = current.state
        elif finished is not None:
            row.status = "graded" if finished.state == "done" else "failed"
            row.notes = json.loads(finished.notes or "[]")
        else:
            row.status = "submitted"
    return sorted(rows.values(), key=lambda r: r.username)


def to_csv(assignment: Assignment, rows: list[Row]) -> str:
    questions = [q["name"] for q in json.loads(assignment.questions)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "username",
            "status",
            "attempt",
            "submitted_at",
            "late_minutes",
            *questions,
            "total",
            "max",
        ]
    )
    for row in rows:
        writer.writerow(
            [
                _cell(row.username),
                row.status,
                row.attempt or "",
                row.submitted_at.isoformat() if row.submitted_at else "",
                round(row.late_seconds / 60, 1) if row.late_seconds else 0,
                *[_num(row.points.get(q)) for q in questions],
                _num(row.total),
                _num(assignment.max_points),
            ]
        )
    return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _cell(text: str) -> str:
    """No spreadsheet formulas from user-chosen text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
