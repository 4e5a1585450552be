"""The gradebook: per student, the latest submission's points per question (staff's
manual points where given, the autograder's otherwise), and its CSV export.

A question graded by hand is never final until a person gave it points: until then it
awaits grading, even when nbgrader's own rule already gave it an automatic 0 (an answer
left as handed out, such as an untouched `raise NotImplementedError()`). The automatic
0 counts in the total so far and is shown as what it is; a person's points replace it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from coursehub.db.models import Assignment, Grading, ManualGrade, Submission
from coursehub.grading.store import GradingStore

# How one question of a submission stands (Marks.states).
AUTO = "auto"  # an autograded question: the autograder's points
BY_HAND = "by hand"  # points a person gave (they replace the autograder's)
AWAITING = "awaiting grading"  # to be graded by hand; nobody has yet
AUTOMATIC = "automatic"  # to be graded by hand; the autograder's rule gave points meanwhile
NOT_GRADED = "not graded"  # no finished grading holds points for it yet

NEEDS_GRADING = "needs grading"  # a row's status: graded, but a person still has to grade


@dataclass
class Row:
    username: str
    submission_id: int | None = None
    attempt: int = 0
    attempts: int = 0
    submitted_at: datetime | None = None
    late_seconds: int = 0
    # not submitted | submitted | queued | running | needs grading | graded | failed
    status: str = "not submitted"
    points: dict[str, float | None] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    total: float | None = None
    pending_manual: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def to_grade(self) -> list[str]:
        return to_grade(self.states)

    @property
    def needs_grading(self) -> bool:
        """Submitted, with an answer a person has not graded yet (the "needs grading"
        filter of the gradebook)."""
        return self.submission_id is not None and self.pending_manual


@dataclass(frozen=True)
class Marks:
    """One submission's points as staff and students see them."""

    points: dict[str, float | None]  # None: no points yet
    states: dict[str, str]  # AUTO, BY_HAND, AWAITING, AUTOMATIC or NOT_GRADED
    total: float | None  # the points so far; None until a grading finished
    pending_manual: bool  # a question graded by hand still waits for a person

    @property
    def to_grade(self) -> list[str]:
        return to_grade(self.states)


def to_grade(states: dict[str, str]) -> list[str]:
    """The questions a person still has to grade, in the assignment's order."""
    return [q for q, state in states.items() if state in (AWAITING, AUTOMATIC)]


def marks(
    grading: Grading | None, manual: dict[str, ManualGrade], questions: list[dict[str, Any]]
) -> Marks:
    """Points and state per question, the total, and whether a person must still grade.
    `grading` is the latest finished grading (or None)."""
    auto: dict[str, Any] = json.loads(grading.questions) if grading and grading.questions else {}
    points: dict[str, float | None] = {}
    states: dict[str, str] = {}
    for q in questions:
        name = q["name"]
        given = manual.get(name)
        found = auto[name].get("points") if isinstance(auto.get(name), dict) else None
        if given is not None and given.points is not None:
            points[name], states[name] = given.points, BY_HAND
        elif q.get("kind") == "manual":
            points[name] = found
            states[name] = AWAITING if found is None else AUTOMATIC
        else:
            points[name], states[name] = found, AUTO if name in auto else NOT_GRADED
    pending = bool(to_grade(states))
    if grading is None or grading.state != "done":
        return Marks(points, states, None, pending)
    return Marks(points, states, sum(p or 0.0 for p in points.values()), pending)


def combine(
    grading: Grading | None, manual: dict[str, ManualGrade], questions: list[dict[str, Any]]
) -> tuple[dict[str, float | None], float | None, bool]:
    """Points per question, the total, and whether manual grading is still due."""
    found = marks(grading, manual, questions)
    return found.points, found.total, found.pending_manual


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
        found = marks(finished, manual, questions)
        row.points, row.states, row.total = found.points, found.states, found.total
        row.pending_manual = found.pending_manual
        row.comments = {q: m.comment for q, m in manual.items() if m.comment}
        if current is not None and current.state in ("queued", "running"):
            row.status = current.state
        elif finished is not None:
            row.status = "graded" if finished.state == "done" else "failed"
            if row.status == "graded" and row.pending_manual:
                row.status = NEEDS_GRADING
            row.notes = json.loads(finished.notes or "[]")
        else:
            row.status = "submitted"
    return sorted(rows.values(), key=lambda r: r.username)


def awaiting_by_hand(store: GradingStore, course: str) -> set[tuple[str, str]]:
    """The (assignment, student) pairs of `course` whose latest attempt has an answer a
    person still has to grade: their scores are partial (in a few queries, for pages
    that list every score of a course)."""
    with store.db.session() as s:
        assignments = {
            a.id: a for a in s.scalars(select(Assignment).where(Assignment.course == course))
        }
        latest: dict[tuple[int, str], Submission] = {}
        for sub in s.scalars(
            select(Submission)
            .where(Submission.assignment_id.in_(list(assignments)))
            .order_by(Submission.attempt)
        ):
            latest[(sub.assignment_id, sub.username)] = sub
        ids = [sub.id for sub in latest.values()]
        finished: dict[int, Grading] = {}
        for grading in s.scalars(
            select(Grading)
            .where(Grading.submission_id.in_(ids), Grading.state.in_(("done", "failed")))
            .order_by(Grading.id)
        ):
            finished[grading.submission_id] = grading
        manual: dict[int, dict[str, ManualGrade]] = {}
        for given in s.scalars(select(ManualGrade).where(ManualGrade.submission_id.in_(ids))):
            manual.setdefault(given.submission_id, {})[given.question] = given
    found = set()
    for (aid, username), sub in latest.items():
        a = assignments[aid]
        got = marks(finished.get(sub.id), manual.get(sub.id, {}), json.loads(a.questions))
        if got.pending_manual:
            found.add((a.name, username))
    return found


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
            *[_cell(q) for q in questions],
            "total",
            "max",
            "needs_grading",
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
                _waiting(row),
            ]
        )
    return out.getvalue()


def _waiting(row: Row) -> str:
    """The questions still to grade by hand, an automatic 0 named as such: the total of
    such a row is what it has so far, not a final grade."""
    return _cell(
        "; ".join(
            f"{q} (automatic {_num(row.points.get(q))})" if row.states[q] == AUTOMATIC else q
            for q in row.to_grade
        )
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _cell(text: str) -> str:
    """No spreadsheet formulas from chosen text: usernames, and question names (an
    instructor's, which a TA may be the one to open)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
