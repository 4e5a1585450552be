"""Grade one submission: lay the instructor's files over it, run each notebook in the
sandbox, score it with the format's rules, keep feedback without hidden tests."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import nbformat

from coursehub.courses.shares import notebook_html
from coursehub.grading import nbgrader_format, otter_format
from coursehub.grading.grader import GradingLimits, run_plan
from coursehub.grading.paths import GradingPaths, ensure_private
from coursehub.grading.plan import NotebookPlan, Question, QuestionScore
from coursehub.grading.store import GradingStore


def questions_of(assignment: Any) -> list[Question]:
    return [Question(**q) for q in json.loads(assignment.questions)]


def otter_tests(paths: GradingPaths, course: str, name: str) -> dict[str, Any]:
    return json.loads((paths.otter_root(course, name) / "tests.json").read_text())


def _merged_files(paths: GradingPaths, assignment: Any, submitted: Path, into: Path) -> None:
    """The submission, with every file of the student version that is not a notebook
    (data, helper modules) put back as the instructor made it."""
    if into.exists():
        shutil.rmtree(into)
    shutil.copytree(submitted, into, symlinks=False)
    version = paths.student_version(assignment.course, assignment.name, assignment.format)
    for path in version.rglob("*"):
        if path.is_file() and path.suffix != ".ipynb":
            target = into / path.relative_to(version)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def grade_submission(
    store: GradingStore, gid: int, limits: GradingLimits, python: str = sys.executable
) -> dict[str, Any]:
    """Run grading `gid`; the values to record for it (see GradingStore.finish)."""
    started = time.monotonic()
    paths = store.paths
    grading = store.grading(gid)
    sub = store.submission(grading.submission_id)
    assignment = store.by_id(sub.assignment_id)
    questions = questions_of(assignment)
    files = paths.work(f"g{gid}-files")
    # root's, and only traversable: each sandbox account reaches its own folder below
    work_root = paths.data_dir / "grading-work"
    work_root.mkdir(parents=True, exist_ok=True)
    work_root.chmod(0o711)
    try:
        _merged_files(paths, assignment, store.submission_files(sub), files)
        root = paths.nbgrader_root(assignment.course)
        if assignment.format == "nbgrader":
            notebooks = sorted({q.notebook for q in questions})
            plans = nbgrader_format.plan(files, root, assignment.name, notebooks)
        else:
            tests = otter_tests(paths, assignment.course, assignment.name)
            release = paths.student_version(assignment.course, assignment.name, "otter")
            plans = [otter_format.plan(files, release, questions[0].notebook, tests)]
        scores: list[QuestionScore] = []
        notes: list[str] = []
        outputs: list[str] = []
        outcomes: list[str] = []
        feedback: dict[str, str] = {}
        graded: dict[str, nbformat.NotebookNode] = {}
        for plan in plans:
            run = run_plan(plan, files, paths.work(f"g{gid}"), limits, python=python)
            if assignment.format == "nbgrader":
                got = nbgrader_format.score(run, questions)
                fb = nbgrader_format.feedback_notebook(run, got)
            else:
                got = otter_format.score(run, tests)
                fb = otter_format.feedback_notebook(run, got)
            scores += got
            notes += run.notes
            if run.output:
                outputs.append(run.output)
            if run.outcome != "ok":
                outcomes.append(f"{plan.notebook}: {run.outcome}")
            feedback[plan.notebook] = _feedback_html(fb, plan)
            graded[plan.notebook] = fb
    finally:
        shutil.rmtree(files, ignore_errors=True)
    _keep_feedback(paths, assignment.course, sub.id, feedback, graded)
    total = sum(s.points or 0.0 for s in scores)
    return {
        "state": "done",
        "total": total,
        "max_total": assignment.max_points,
        "questions": json.dumps({s.name: s.as_json() for s in scores}),
        "outcome": ("; ".join(outcomes) or "ok")[:300],
        "notes": json.dumps(notes[:50]),
        "output": "\n".join(outputs)[:100_000],
        "seconds": time.monotonic() - started,
    }


def _feedback_html(nb: nbformat.NotebookNode, plan: NotebookPlan) -> str:
    return notebook_html(nbformat.writes(nb).encode(), plan.notebook)


def _keep_feedback(
    paths: GradingPaths,
    course: str,
    sid: int,
    pages: dict[str, str],
    graded: dict[str, nbformat.NotebookNode],
) -> None:
    """The feedback pages, and the graded notebooks they show (for the grading page:
    what a code answer printed or drew when it ran)."""
    folder = paths.feedback(course, sid)
    if folder.exists():
        shutil.rmtree(folder)
    ensure_private(folder)
    for notebook, page in pages.items():
        target = folder / (notebook + ".html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page)
    for notebook, nb in graded.items():
        target = graded_notebooks(paths, course, sid) / notebook
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)


def graded_notebooks(paths: GradingPaths, course: str, sid: int) -> Path:
    """The folder of submission `sid`'s notebooks as the grader ran them (with their
    outputs; hidden tests removed), once it is graded."""
    return paths.feedback(course, sid) / ".graded"


def feedback_pages(paths: GradingPaths, course: str, sid: int) -> dict[str, Path]:
    folder = paths.feedback(course, sid)
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder))[: -len(".html")]: p for p in sorted(folder.rglob("*.html"))}
