"""Small but real assignment sources in both authoring formats, for tests and
benchmarks: an nbgrader problem set and an otter-grader master notebook."""

from __future__ import annotations

from pathlib import Path

import nbformat

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _nbg(cell: nbformat.NotebookNode, **meta: object) -> nbformat.NotebookNode:
    base = {"schema_version": 3, "locked": False, "solution": False, "grade": False}
    cell.metadata["nbgrader"] = {**base, **meta}
    return cell


def nbgrader_source(folder: Path, work: str = "", manual_code: bool = False) -> Path:
    """folder/ps1.ipynb: a solution cell (square), a test cell with a hidden part
    (2 points) and a manually graded answer (1 point). `work` is extra computation
    put in the solution (for benchmarks). `manual_code`: a code answer graded by hand
    too (`table`, 2 points), which nbgrader gives 0 automatically when it raises, as
    its student version does."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Problem set 1"),
        _nbg(
            nbformat.v4.new_code_cell(
                "def square(x):\n    ### BEGIN SOLUTION\n" + work + "    return x * x\n"
                "    ### END SOLUTION"
            ),
            solution=True,
            grade_id="square",
        ),
        _nbg(
            nbformat.v4.new_code_cell(
                "assert square(3) == 9\n### BEGIN HIDDEN TESTS\nassert square(-2) == 4\n"
                "### END HIDDEN TESTS"
            ),
            grade=True,
            grade_id="test_square",
            points=2,
            locked=True,
        ),
        _nbg(
            nbformat.v4.new_markdown_cell("Why is a square never negative?\n\nYOUR ANSWER HERE"),
            solution=True,
            grade=True,
            grade_id="explain",
            points=1,
        ),
    ]
    if manual_code:
        nb.cells.append(
            _nbg(
                nbformat.v4.new_code_cell(
                    "# The squares of 0 to 4, printed\n### BEGIN SOLUTION\n"
                    "print([square(n) for n in range(5)])\n### END SOLUTION"
                ),
                solution=True,
                grade=True,
                grade_id="table",
                points=2,
            )
        )
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "ps1.ipynb")
    return folder


def _test(source: str, expected: str = "True") -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    # otter takes the expected result from the test cell's output, as if run
    cell.outputs = [
        nbformat.v4.new_output("execute_result", data={"text/plain": expected}, execution_count=1)
    ]
    return cell


def otter_master(path: Path) -> Path:
    """An otter assign master notebook: q1 (2 points, a hidden test) and q2 (3 points)."""
    raw = nbformat.v4.new_raw_cell
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [
        raw("# ASSIGNMENT CONFIG\nrequirements: null\nexport_cell: false\ngenerate: false\n"
            "check_all_cell: false\ninit_cell: true\nrun_tests: false\n"),
        nbformat.v4.new_markdown_cell("# Squares"),
        raw("# BEGIN QUESTION\nname: q1\npoints: 2"),
        nbformat.v4.new_markdown_cell("Put the square of 7 into `sq`."),
        raw("# BEGIN SOLUTION"),
        nbformat.v4.new_code_cell("sq = 7 ** 2 # SOLUTION"),
        raw("# END SOLUTION"),
        raw("# BEGIN TESTS"),
        _test("sq == 49"),
        _test("# HIDDEN\nisinstance(sq, int)"),
        raw("# END TESTS"),
        raw("# END QUESTION"),
        raw("# BEGIN QUESTION\nname: q2\npoints: 3"),
        nbformat.v4.new_markdown_cell("Write `double(x)`."),
        raw("# BEGIN SOLUTION"),
        nbformat.v4.new_code_cell("def double(x):\n    return 2 * x # SOLUTION"),
        raw("# END SOLUTION"),
        raw("# BEGIN TESTS"),
        _test("double(2) == 4"),
        raw("# END TESTS"),
        raw("# END QUESTION"),
    ]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def answer_nbgrader(released: Path, body: str) -> bytes:
    """The released ps1.ipynb with the student's `square` body and an answer text."""
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "square":
            cell.source = "def square(x):\n" + body
        if grade_id == "explain":
            cell.source = "Because a negative times a negative is positive."
    return nbformat.writes(nb).encode()


def answer_otter(released: Path, sq: str, double: str) -> bytes:
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("sq ="):
            cell.source = f"sq = {sq}"
        if cell.cell_type == "code" and cell.source.startswith("def double"):
            cell.source = "def double(x):\n" + double
    return nbformat.writes(nb).encode()
