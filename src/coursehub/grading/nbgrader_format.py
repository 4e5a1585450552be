"""nbgrader assignments: nbgrader makes the student version and restores the test
cells; its grading rules score the results the sandbox brought back.

Each course has an nbgrader course directory (source/, release/, gradebook.db) that
only root can read: it holds solutions and hidden tests.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader import utils as nbg
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells

from coursehub.grading.errors import AssignmentError
from coursehub.grading.plan import (
    NotebookPlan,
    NotebookRun,
    Question,
    QuestionScore,
    Step,
    read_submitted,
)

FORMAT = "nbgrader"


def looks_like(notebooks: list[nbformat.NotebookNode]) -> bool:
    return any("nbgrader" in c.get("metadata", {}) for nb in notebooks for c in nb.cells)


def _db_url(root: Path) -> str:
    return f"sqlite:///{root / 'gradebook.db'}"


def generate(source: Path, root: Path, name: str) -> list[Question]:
    """Copy `source` into the course directory and let nbgrader make the student
    version in release/<name>; the questions with their points."""
    target = root / "source" / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=False)
    release = root / "release" / name
    if release.exists():
        shutil.rmtree(release)
    bindir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from its venv
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "generate_assignment",
            name,
            f"--CourseDirectory.root={root}",
            f"--CourseDirectory.db_url={_db_url(root)}",
            "--force",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}"},
        cwd=root,
        timeout=600,
    )
    if done.returncode != 0 or not release.is_dir():
        detail = _what_nbgrader_said(done.stderr) or "it said nothing more"
        raise AssignmentError(
            f"could not make the student version of {name} with nbgrader, which said: {detail}"
        )
    return questions_of(target)


_LOGGED = re.compile(r"^\[\w+ \| (?:ERROR|CRITICAL)\] ?(.*)$")
_RAISED = re.compile(r"^\s*\w+(?:Error|Exception): (.+)$")
# nbgrader's own lines around every error, which say nothing about the notebook
_BOILERPLATE = ("There was an error processing", "Please see the", "Traceback")


def _what_nbgrader_said(stderr: str) -> str:
    """nbgrader's error messages, in its words, without its log prefixes, tracebacks
    and the server's folders: what the instructor needs to fix the notebook."""
    lines = stderr.splitlines()
    said: list[str] = []
    for index, line in enumerate(lines):
        logged = _LOGGED.match(line)
        if logged is None or not logged.group(1).strip():
            continue
        text = logged.group(1).strip()
        if text.startswith(_BOILERPLATE):
            continue
        quoted = []  # what nbgrader quotes after it (a cell's contents)
        for more in lines[index + 1 : index + 6]:
            if more.startswith("[") or _RAISED.match(more) or more.startswith("Traceback"):
                break
            quoted.append(more.rstrip())
        said.append("\n".join([text, *quoted]).strip())
    if not said:
        said = [m.group(1) for m in map(_RAISED.match, lines) if m][-1:]
    return "\n".join(said[:4])[:1500]


def questions_of(source: Path) -> list[Question]:
    questions: list[Question] = []
    seen: set[str] = set()
    for path in sorted(source.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        rel = str(path.relative_to(source))
        for cell in nb.cells:
            if not (nbg.is_grade(cell) or nbg.is_task(cell)):
                continue
            grade_id = cell.metadata.nbgrader["grade_id"]
            name = grade_id if grade_id not in seen else f"{Path(rel).stem}:{grade_id}"
            seen.add(name)
            manual = nbg.is_solution(cell) or nbg.is_task(cell) or cell.cell_type != "code"
            questions.append(
                Question(
                    name=name,
                    points=float(cell.metadata.nbgrader.get("points", 0)),
                    kind="manual" if manual else "auto",
                    notebook=rel,
                )
            )
    return questions


def plan(submission: Path, root: Path, name: str, notebooks: list[str]) -> list[NotebookPlan]:
    """One plan per notebook of the assignment; a missing or broken notebook is graded
    as the untouched student version (and said so)."""
    plans = []
    for rel in notebooks:
        released = nbformat.read(root / "release" / name / rel, as_version=4)
        nb, notes = read_submitted(submission, rel, released)
        plans.append(_plan_notebook(nb, released, root, name, rel, notes))
    return plans


def _plan_notebook(
    nb: nbformat.NotebookNode,
    released: nbformat.NotebookNode,
    root: Path,
    name: str,
    rel: str,
    notes: list[str],
) -> NotebookPlan:
    notebook_id = str(Path(rel).with_suffix(""))
    with Gradebook(_db_url(root)) as gb:
        source_nb = gb.find_notebook(notebook_id, name)
        # checksums of the cells as handed out (hidden tests already removed)
        handed_out = {
            c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader.get("checksum")
            for c in released.cells
            if "nbgrader" in c.metadata and nbg.is_locked(c)  # grade cells are, whatever the flag
        }
        for cell in nb.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in handed_out and nbg.compute_checksum(cell) != handed_out[grade_id]:
                notes.append(f"cell {grade_id} was changed: the instructor's version was used")
        _drop_foreign_cells(nb, {c.name for c in source_nb.source_cells}, notes)
        _restore_locked(nb, gb, notebook_id, name)
        present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
        for cell in source_nb.grade_cells:
            if cell.name not in present:
                notes.append(f"cell {cell.name} was deleted: the instructor's version was used")
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        resources = {
            "nbgrader": {"notebook": notebook_id, "assignment": name, "db_url": _db_url(root)}
        }
        nb, _ = OverwriteCells(add_missing_cells=True).preprocess(nb, resources)
        steps: list[Step] = []
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if nbg.is_grade(cell) and not nbg.is_solution(cell):
                grade_id = cell.metadata.nbgrader["grade_id"]
                try:
                    source = gb.find_source_cell(grade_id, notebook_id, name).source
                except MissingEntry:
                    source = cell.source  # not a test of this assignment: it scores nothing
                cell.source = source
                steps.append(Step("test", cell_index=index, question=grade_id, payload=source))
            else:
                steps.append(Step("code", source=cell.source, cell_index=index))
    return NotebookPlan(rel, nb, steps, notes)


def _restore_locked(nb: nbformat.NotebookNode, gb: Gradebook, notebook_id: str, name: str) -> None:
    """Put the instructor's source back into every locked cell before nbgrader's
    OverwriteCells looks. nbgrader keeps the checksum of the source version, hidden
    tests included, while the student got the cell without them: left to itself it
    reports an untouched test cell as changed on every grading. A real change was
    noted already, against the version handed out."""
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is None:
            continue
        try:
            source_cell = gb.find_source_cell(grade_id, notebook_id, name)
        except MissingEntry:
            continue
        if source_cell.locked:
            cell.source = source_cell.source


def _drop_foreign_cells(nb: nbformat.NotebookNode, known: set[str], notes: list[str]) -> None:
    """Cells the student marked as nbgrader cells themselves (or copied) become plain
    cells: only the instructor's cells, once each, are graded."""
    seen: set[str] = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(grade_id, str) and grade_id in known and grade_id not in seen:
            seen.add(grade_id)
            continue
        del cell.metadata["nbgrader"]
        shown = repr(grade_id)[:40] if grade_id is not None else "without a grade id"
        why = "a copy of" if grade_id in seen else "not part of the assignment"
        notes.append(f"cell {shown} is {why}: graded as ordinary code, for no points")


def score(run: NotebookRun, questions: list[Question]) -> list[QuestionScore]:
    """Points per grade cell by nbgrader's own rules, applied to what the harness
    reported (an error, something on stderr, or a partial-credit number)."""
    by_cell = {}
    for step, step_result in zip(run.plan.steps, run.results, strict=True):
        if step.kind == "test" and step.cell_index is not None:
            by_cell[step.cell_index] = step_result
    names = {(q.notebook, q.name.split(":")[-1]): q.name for q in questions}
    seen: set[str] = set()
    scores = []
    for index, cell in enumerate(run.plan.nb.cells):
        if not nbg.is_grade(cell):
            continue
        grade_id = cell.metadata.nbgrader["grade_id"]
        name = names.get((run.plan.notebook, grade_id))
        if name is None or name in seen:
            continue  # not a question of this assignment (a cell the student marked)
        seen.add(name)
        max_points = next(q.points for q in questions if q.name == name)
        if nbg.is_solution(cell) or cell.cell_type != "code":
            points, _ = nbg.determine_grade(cell)
            scores.append(QuestionScore(name, points, max_points, "manual"))
            continue
        result = by_cell.get(index)
        record = result.record if result else None
        probe = nbformat.v4.new_code_cell(metadata=copy.deepcopy(cell.metadata))
        if record is None:
            why = (
                run.outcome
                if run.outcome != "ok"
                else f"the test {result.status if result else 'did not run'}"
            )
            scores.append(QuestionScore(name, 0.0, max_points, "auto", False, f"not run: {why}"))
            continue
        if not record.ok:
            probe.outputs = [
                nbformat.v4.new_output("error", ename=record.error, evalue="", traceback=[])
            ]
        elif record.stderr:
            probe.outputs = [nbformat.v4.new_output("stream", name="stderr", text=record.stderr)]
        elif record.value is not None:
            probe.outputs = [
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": repr(record.value)}, execution_count=1
                )
            ]
        points, _ = nbg.determine_grade(probe)
        passed = record.ok and not record.stderr
        if passed:
            message = "passed"
        elif record.hidden:  # its source and what it said stay with the instructor
            message = f"{name} failed ({record.error or 'it wrote on stderr'})"
        else:
            message = _shorten(record.message.strip() or record.stderr.strip())
        scores.append(QuestionScore(name, points, max_points, "auto", passed, message))
    return scores


def _shorten(text: str, most: int = 500) -> str:
    """A failing test's message within `most` characters: its start (the line that
    failed) and its end (the error) are what say most."""
    if len(text) <= most:
        return text
    return text[: most // 2] + "\n…\n" + text[-(most // 2 - 3) :]


def feedback_notebook(run: NotebookRun, scores: list[QuestionScore]) -> nbformat.NotebookNode:
    """The graded notebook for the student: hidden tests removed from test cells, each
    test's output replaced by its result."""
    nb = copy.deepcopy(run.plan.nb)
    nb, _ = ClearHiddenTests().preprocess(nb, {})
    by_name = {s.name.split(":")[-1]: s for s in scores}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if not meta or not nbg.is_grade(cell):
            continue
        found = by_name.get(meta["grade_id"])
        if found is None:
            continue
        shown = "pending manual grading" if found.points is None else f"{found.points:g}"
        text = f"[{shown} / {found.max:g} points] {found.message}".rstrip() + "\n"
        if cell.cell_type == "code" and found.kind == "auto":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return nb
