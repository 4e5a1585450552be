"""A student's answer to one question, taken from their submitted notebook, for the
page where staff grade it.

nbgrader: the cell with the question's grade id (a written answer), or for a test
cell the solution cells before it; a task's cell with the cells that follow it.
otter-grader: the cells tagged ``otter_answer_cell`` before the question's
``grader.check("q")`` cell. The notebook is the student's: any cell, tag or output
may be hostile, so the result is only ever shown sandboxed (no script, its own
origin) and is rendered without any of nbconvert's scripts.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbgrader import utils as nbg

MAX_NOTEBOOK = 20 * 1024 * 1024  # bytes of a submitted notebook read for display
STYLE = """<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0.4rem 0.6rem; color: #1d2939; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0.2rem 0; font-size: 13px; }
.jp-InputArea, .input_area { background: #f6f7f9; border: 1px solid #e4e7ec; border-radius: 4px;
  padding: 0.2rem 0.4rem; }
.jp-OutputArea, .output_area { border-left: 3px solid #e4e7ec; padding-left: 0.4rem; }
.jp-InputPrompt, .jp-OutputPrompt, .prompt { display: none; }
img, svg { max-width: 100%; height: auto; }
.jp-Cell + .jp-Cell, .cell + .cell { margin-top: 0.5rem; }
p.missing { color: #b54708; }
</style>"""


class NoAnswer(Exception):
    """Why no answer can be shown (in words, for staff)."""


def _check_call(question: str) -> re.Pattern[str]:
    return re.compile(r"grader\s*\.\s*check\s*\(\s*['\"]" + re.escape(question) + r"['\"]\s*\)")


def read_submitted(folder: Path, notebook: str) -> nbformat.NotebookNode:
    """The student's notebook `notebook` in the submission folder `folder`."""
    path = folder / notebook
    if not path.is_file() or path.is_symlink():
        raise NoAnswer(f"the submission has no {notebook}")
    if path.stat().st_size > MAX_NOTEBOOK:
        raise NoAnswer(f"{notebook} is over {MAX_NOTEBOOK >> 20} MB; open its feedback instead")
    try:
        return nbformat.reads(path.read_bytes().decode("utf-8"), as_version=4)
    except Exception:  # noqa: BLE001 - a broken notebook is the student's
        raise NoAnswer(f"{notebook} of this submission is not a readable notebook") from None


def nbgrader_cells(nb: nbformat.NotebookNode, grade_id: str) -> list[nbformat.NotebookNode]:
    cells = nb.cells
    found = next((i for i, c in enumerate(cells) if _meta(c).get("grade_id") == grade_id), None)
    if found is None:
        raise NoAnswer(f"the notebook has no cell {grade_id}: the student deleted it")
    cell = cells[found]
    if nbg.is_task(cell):  # the answer follows the task, up to the next marked cell
        after = []
        for other in cells[found + 1 :]:
            if _meta(other):
                break
            after.append(other)
        return [cell, *after]
    if nbg.is_solution(cell) or not nbg.is_grade(cell):
        return [cell]
    # a test cell: what it tests is the solution cells since the previous graded cell
    answers: list[nbformat.NotebookNode] = []
    for other in reversed(cells[:found]):
        if nbg.is_grade(other) or nbg.is_task(other):
            break
        if nbg.is_solution(other):
            answers.insert(0, other)
    if not answers:
        raise NoAnswer(f"no answer cell comes before the test {grade_id}")
    return answers


def otter_cells(nb: nbformat.NotebookNode, question: str) -> list[nbformat.NotebookNode]:
    check = _check_call(question)
    any_check = re.compile(r"grader\s*\.\s*check\s*\(")
    end = next(
        (i for i, c in enumerate(nb.cells) if c.cell_type == "code" and check.search(c.source)),
        None,
    )
    if end is None:
        raise NoAnswer(f'the notebook has no grader.check("{question}") cell: the student '
                       "deleted it")  # fmt: skip
    start = 0
    for i in range(end - 1, -1, -1):
        if nb.cells[i].cell_type == "code" and any_check.search(nb.cells[i].source):
            start = i + 1
            break
    segment = nb.cells[start:end]
    tagged = [c for c in segment if "otter_answer_cell" in (c.metadata.get("tags") or [])]
    answers = tagged or [c for c in segment if c.cell_type == "code"]
    if not answers:
        raise NoAnswer(f"no answer cell comes before the check of {question}")
    return answers


def _grade_id(nb: nbformat.NotebookNode, question: dict) -> str:
    """The grade id of a question: its name, or for a grade id used in two notebooks
    the name without the notebook's prefix (nbgrader_format.questions_of)."""
    name, prefix = question["name"], Path(question["notebook"]).stem + ":"
    if name.startswith(prefix) and not any(_meta(c).get("grade_id") == name for c in nb.cells):
        return name[len(prefix) :]
    return name


def _meta(cell: nbformat.NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def answer_html(folder: Path, fmt: str, question: dict, graded: Path | None = None) -> str:
    """The student's answer to `question` (an entry of the assignment's questions) as a
    page for a sandboxed frame; a sentence when there is none. `graded`: the folder of
    the notebooks as the grader ran them; the answer is shown with the outputs it gave
    there (what a code answer graded by hand printed or drew), when its cells are the
    submitted ones."""
    try:
        nb = read_submitted(folder, question["notebook"])
        cells = _answer_cells(nb, fmt, question)
    except NoAnswer as exc:
        return page(f'<p class="missing">No answer to show: {_escape(str(exc))}.</p>')
    if graded is not None:
        cells = _with_outputs(cells, graded, fmt, question)
    return page(render_cells(nb, cells))


def _answer_cells(nb: nbformat.NotebookNode, fmt: str, question: dict) -> list:
    if fmt == "nbgrader":
        return nbgrader_cells(nb, _grade_id(nb, question))
    return otter_cells(nb, question["name"])


def _with_outputs(cells: list, graded: Path, fmt: str, question: dict) -> list:
    """The same cells as the grader ran them, if it ran these very cells."""
    try:
        ran = _answer_cells(read_submitted(graded, question["notebook"]), fmt, question)
    except NoAnswer:
        return cells  # not graded yet, or graded before its notebook was kept
    if [c.source for c in ran] != [c.source for c in cells]:
        return cells
    return ran


def render_cells(nb: nbformat.NotebookNode, cells: list[nbformat.NotebookNode]) -> str:
    from nbconvert import HTMLExporter

    shown = nbformat.v4.new_notebook(metadata=nb.metadata)
    shown.cells = cells
    exporter = HTMLExporter(template_name="basic")
    exporter.exclude_anchor_links = True
    try:
        body, _resources = exporter.from_notebook_node(shown)
    except Exception:  # noqa: BLE001 - hostile cells nbconvert cannot take
        texts = "".join(f"<pre>{_escape(str(c.get('source', '')))}</pre>" for c in cells)
        return '<p class="missing">Shown as plain text (it could not be rendered):</p>' + texts
    return body


def page(body: str) -> str:
    head = f'<head><meta charset="utf-8">{STYLE}</head>'
    return f"<!DOCTYPE html><html>{head}<body>{body}</body></html>"


def _escape(text: str) -> str:
    import html

    return html.escape(text)
