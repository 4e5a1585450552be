"""The answer shown beside each question on the grading page, taken from the student's
notebook as nbgrader and otter-grader hand it out, including what a student can do
to that notebook (delete cells, copy a grade id, remove tags, break the JSON)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from coursehub.grading.answers import answer_html, nbgrader_cells, otter_cells
from tests.helpers.assignments import nbgrader_source


def _nbgrader_student(tmp_path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(nbgrader_source(tmp_path / "src") / "ps1.ipynb", as_version=4)
    nb.cells[1].source = "def square(x):\n    return x ** 2"
    nb.cells[3].source = "Because (-x)(-x) = x²."
    return nb


def _otter_student() -> nbformat.NotebookNode:
    """The shape `otter assign` gives a student notebook."""
    code, md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    locked = {"deletable": False, "editable": False}
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        code('import otter\ngrader = otter.Notebook("hw.ipynb")', metadata=locked),
        md("Put the square of 7 into `sq`.", metadata=locked),
        code("sq = 49", metadata={"tags": ["otter_answer_cell"]}),
        code('grader.check("q1")', metadata=locked),
        md("Write `double(x)`.", metadata=locked),
        code("helper = 2", metadata={}),
        code("def double(x):\n    return helper * x", metadata={"tags": ["otter_answer_cell"]}),
        code("grader.check('q2')", metadata=locked),
    ]
    return nb


def test_nbgrader_answers_are_the_written_cell_and_the_solution_a_test_checks(
    tmp_path: Path,
) -> None:
    nb = _nbgrader_student(tmp_path)
    assert [c.source for c in nbgrader_cells(nb, "explain")] == ["Because (-x)(-x) = x²."]
    tested = nbgrader_cells(nb, "test_square")
    assert [c.source for c in tested] == ["def square(x):\n    return x ** 2"]


def test_otter_answers_are_the_tagged_cells_before_the_questions_check() -> None:
    nb = _otter_student()
    assert [c.source for c in otter_cells(nb, "q1")] == ["sq = 49"]
    assert [c.source for c in otter_cells(nb, "q2")] == ["def double(x):\n    return helper * x"]
    for cell in nb.cells:  # a student removed the tags: the code cells of the question
        cell.metadata.pop("tags", None)
    assert [c.source for c in otter_cells(nb, "q2")] == [
        "helper = 2",
        "def double(x):\n    return helper * x",
    ]


def test_what_a_student_did_to_the_notebook_is_said_in_words(tmp_path: Path) -> None:
    folder = tmp_path / "sub"
    folder.mkdir()
    nb = _nbgrader_student(tmp_path)
    explain = {"name": "explain", "notebook": "ps1.ipynb", "points": 1, "kind": "manual"}
    assert "the submission has no ps1.ipynb" in answer_html(folder, "nbgrader", explain)
    (folder / "ps1.ipynb").write_text('{"cells": [')
    assert "not a readable notebook" in answer_html(folder, "nbgrader", explain)
    del nb.cells[3]  # the written answer's cell deleted
    nbformat.write(nb, folder / "ps1.ipynb")
    assert "no cell explain: the student deleted it" in answer_html(folder, "nbgrader", explain)
    # a copy of a grade id before the real cell: the first one is shown, never run
    nb = _nbgrader_student(tmp_path)
    fake = nbformat.v4.new_markdown_cell("<script>alert(1)</script>copied")
    fake.metadata["nbgrader"] = dict(nb.cells[3].metadata["nbgrader"])
    nb.cells.insert(1, fake)
    nbformat.write(nb, folder / "ps1.ipynb")
    page = answer_html(folder, "nbgrader", explain)
    assert "copied" in page and page.startswith("<!DOCTYPE html>")
    assert 'src="http' not in page and "require.js" not in page  # nothing loaded from afar
    (folder / "hw.ipynb").symlink_to("/etc/passwd")
    otter_q = {"name": "q1", "notebook": "hw.ipynb", "points": 1, "kind": "auto"}
    assert "the submission has no hw.ipynb" in answer_html(folder, "otter", otter_q)


def test_a_code_answer_is_shown_with_what_it_printed_when_it_was_graded(
    tmp_path: Path,
) -> None:
    """The student did not run the cell; the grader did: its output is shown beside the
    submitted code, as long as the graded cell is the submitted one."""
    nb = nbformat.read(
        nbgrader_source(tmp_path / "src", manual_code=True) / "ps1.ipynb", as_version=4
    )
    nb.cells[4].source = "print([n * n for n in range(5)])"
    submitted, graded = tmp_path / "sub", tmp_path / "graded"
    submitted.mkdir()
    graded.mkdir()
    nbformat.write(nb, submitted / "ps1.ipynb")
    table = {"name": "table", "notebook": "ps1.ipynb", "points": 2, "kind": "manual"}
    assert "[0, 1, 4, 9, 16]" not in answer_html(submitted, "nbgrader", table, graded)

    nb.cells[4].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="[0, 1, 4, 9, 16]\n")
    ]
    nbformat.write(nb, graded / "ps1.ipynb")
    page = _text(answer_html(submitted, "nbgrader", table, graded))
    assert "[0, 1, 4, 9, 16]" in page and "n * n" in page

    nb.cells[4].source = "print('something else')"  # not what was submitted: not shown
    nbformat.write(nb, graded / "ps1.ipynb")
    page = _text(answer_html(submitted, "nbgrader", table, graded))
    assert "[0, 1, 4, 9, 16]" not in page and "n * n" in page


def _text(page: str) -> str:
    """What the frame shows, without the markup (code is highlighted in spans)."""
    return re.sub(r"<[^>]+>", "", page)
