"""What a grading run executes, independent of the authoring format.

A format (nbgrader, otter) turns a submitted notebook into a plan: the student's code
cells in order, with the instructor's tests at the places they run, each test tied to a
question. The grader runs plans in the sandbox; the format turns what came back into
points with its own library's rules.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import nbformat

from coursehub.grading.harness import TestRecord


def read_submitted(
    submission: Path, rel: str, released: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, list[str]]:
    """The submitted notebook, or the handed-out one (and a note why) when it is
    missing or unreadable."""
    try:
        return nbformat.read(submission / rel, as_version=4), []
    except FileNotFoundError:
        return copy.deepcopy(released), [f"{rel} was not submitted: graded as handed out"]
    except Exception:  # noqa: BLE001 - any unreadable notebook is graded as released
        return copy.deepcopy(released), [f"{rel} is not a readable notebook: graded as handed out"]


@dataclass(frozen=True)
class Question:
    name: str
    points: float
    kind: Literal["auto", "manual"]
    notebook: str


@dataclass
class Step:
    kind: Literal["code", "test"]
    source: str = ""  # code steps: the student's cell
    cell_index: int | None = None  # where results go in the graded notebook
    question: str = ""  # test steps
    test_kind: Literal["nbgrader", "otter"] = "nbgrader"
    payload: Any = None  # the instructor's test: source text or an otter test spec


@dataclass
class NotebookPlan:
    notebook: str  # path relative to the submission
    nb: nbformat.NotebookNode  # as it will be graded: the instructor's test cells restored
    steps: list[Step]
    notes: list[str] = field(default_factory=list)  # changes the format undid, for review


@dataclass
class StepResult:
    status: str  # ok | error | timeout | dead | not run
    record: TestRecord | None = None  # test steps: what the harness reported


@dataclass
class NotebookRun:
    plan: NotebookPlan
    results: list[StepResult]
    outcome: str  # ok, or why the run stopped early
    output: str  # test output for staff
    notes: list[str] = field(default_factory=list)


@dataclass
class QuestionScore:
    name: str
    points: float | None  # None: waits for manual grading
    max: float
    kind: str
    passed: bool | None = None
    message: str = ""  # safe to show the student (no hidden test content)
    hidden_failed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "max": self.max,
            "kind": self.kind,
            "passed": self.passed,
            "message": self.message,
            "hidden_failed": self.hidden_failed,
        }
