"""otter-grader assignments: `otter assign` makes the student version and the
autograder tests; otter's own test files run them and compute the points.

Like `otter run`, the whole notebook runs first and every question's tests (hidden
ones included) run at the end against the final state.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import nbformat
from otter.test_files.abstract_test import TestCaseResult
from otter.test_files.ok_test import OKTestFile

from coursehub.grading.errors import AssignmentError
from coursehub.grading.plan import (
    NotebookPlan,
    NotebookRun,
    Question,
    QuestionScore,
    Step,
    read_submitted,
)

FORMAT = "otter"
_MARKERS = ("# ASSIGNMENT CONFIG", "# BEGIN QUESTION", "# BEGIN TESTS")


def looks_like(notebooks: list[nbformat.NotebookNode]) -> bool:
    return any(
        c.cell_type == "raw" and c.source.lstrip().upper().startswith(_MARKERS)
        for nb in notebooks
        for c in nb.cells
    )


def master_notebook(source: Path) -> Path:
    found = [
        p for p in sorted(source.glob("*.ipynb")) if looks_like([nbformat.read(p, as_version=4)])
    ]
    if len(found) != 1:
        raise AssignmentError(
            f"an otter assignment needs exactly one notebook in otter assign format in {source} "
            f"(found {len(found)}): mark questions with raw cells '# BEGIN QUESTION'"
        )
    return found[0]


def generate(source: Path, root: Path, work: Path) -> tuple[list[Question], dict[str, Any], str]:
    """Run `otter assign` on `source` in the grading sandbox (coursehub.grading.authoring,
    in the work folder `work`); the questions, the tests (by question) and the student
    notebook's name. The student version is root/release."""
    from coursehub.grading.authoring import otter_assign

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, mode=0o700)
    shutil.copytree(source, root / "source", symlinks=False)
    master_notebook(root / "source")  # a clear error before anything runs
    made = otter_assign(root / "source", work, root / "release")
    try:
        questions = [
            Question(name, float(OKTestFile.from_spec(spec).possible), "auto", made.notebook)
            for name, spec in made.tests.items()
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AssignmentError(f"otter made tests coursehub cannot read: {exc}") from None
    return questions, made.tests, made.notebook


def tests_of(autograder: Path, notebook: str) -> dict[str, Any]:
    """The OK-format tests by question: from the autograder notebook's metadata, or
    from tests/*.py when the assignment keeps them in files. Those files are the
    instructor's Python: only ever called in the authoring sandbox (author_worker)."""
    nb = nbformat.read(autograder / notebook, as_version=4)
    tests = nb.metadata.get("otter", {}).get("tests")
    if tests:
        return {name: _plain(spec) for name, spec in tests.items()}
    found: dict[str, Any] = {}
    for path in sorted((autograder / "tests").glob("*.py")):
        namespace: dict[str, Any] = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)  # the instructor's file
        found[namespace["test"]["name"]] = namespace["test"]
    if not found:
        raise AssignmentError(f"otter assign made no tests for {notebook}: add '# BEGIN TESTS'")
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def plan(submission: Path, release: Path, notebook: str, tests: dict[str, Any]) -> NotebookPlan:
    released = nbformat.read(release / notebook, as_version=4)
    nb, notes = read_submitted(submission, notebook, released)
    if nb.metadata.get("otter", {}).get("tests") != released.metadata.get("otter", {}).get("tests"):
        notes.append("the tests stored in the notebook were changed: the instructor's were used")
    steps: list[Step] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            steps.append(Step("code", source=cell.source, cell_index=index))
    for name, spec in tests.items():
        steps.append(Step("test", question=name, test_kind="otter", payload=spec))
    return NotebookPlan(notebook, nb, steps, notes)


def score(run: NotebookRun, tests: dict[str, Any]) -> list[QuestionScore]:
    """Points per question by otter's rules (per-case points, all-or-nothing)."""
    records = {
        step.question: result.record
        for step, result in zip(run.plan.steps, run.results, strict=True)
        if step.kind == "test"
    }
    scores = []
    for name, spec in tests.items():
        test_file = OKTestFile.from_spec(spec, path=name)
        record = records.get(name)
        reported = {c.get("name"): c for c in (record.cases or [])} if record and record.ok else {}
        test_file.test_case_results = [
            TestCaseResult(
                test_case=case,
                message=str(reported.get(case.name, {}).get("message", "")),
                passed=reported.get(case.name, {}).get("passed") is True,
            )
            for case in test_file.test_cases
        ]
        hidden_failed = any(
            not r.passed and r.test_case.hidden for r in test_file.test_case_results
        )
        if record is None or not record.ok:
            why = (record.message.strip() or record.error) if record else run.outcome
            message = f"not run: {why}"[:500]
        else:
            message = _public_summary(test_file)
        scores.append(
            QuestionScore(
                name,
                float(test_file.score),
                float(test_file.possible),
                "auto",
                bool(test_file.passed_all),
                message,
                hidden_failed,
            )
        )
    return scores


def _public_summary(test_file: OKTestFile) -> str:
    """What the student may see: public cases' messages, hidden ones only counted."""
    lines = []
    hidden = [r for r in test_file.test_case_results if r.test_case.hidden]
    for result in test_file.test_case_results:
        if result.test_case.hidden:
            continue
        if result.passed:
            lines.append(f"{result.test_case.name} passed")
        else:
            lines.append(f"{result.test_case.name} failed:\n{(result.message or '').strip()[:800]}")
    if hidden:
        failed = sum(1 for r in hidden if not r.passed)
        lines.append(f"hidden tests: {len(hidden) - failed} of {len(hidden)} passed")
    return "\n".join(lines)


def feedback_notebook(run: NotebookRun, scores: list[QuestionScore]) -> nbformat.NotebookNode:
    """The student's executed notebook, tests removed from its metadata, results at
    the end."""
    nb = copy.deepcopy(run.plan.nb)
    nb.metadata.pop("otter", None)
    lines = ["## Results", ""]
    for s in scores:
        lines.append(f"**{s.name}**: {s.points:g} / {s.max:g}\n")
        lines.append("```\n" + s.message.replace("```", "'''") + "\n```\n")
    nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(lines)))
    return nb
