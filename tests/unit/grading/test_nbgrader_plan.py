"""How coursehub reads a submission of an nbgrader assignment before running it, with
nbgrader's own user-guide problem set (ps1, as shipped in the nbgrader package) and a
test cell with hidden tests: nbgrader reports no change for untouched cells, real
changes are noted whatever the cell's `locked` flag, and nbgrader's rules give answers
left as handed out an automatic 0 while edited ones wait for a person."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import nbformat
import nbgrader
import pytest

from coursehub.grading import nbgrader_format
from coursehub.grading.plan import NotebookRun, StepResult
from tests.helpers.assignments import nbgrader_source

USER_GUIDE = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide"


def _plan(root: Path, submitted: Path, questions: list) -> list:
    return nbgrader_format.plan(submitted, root, "ps1", sorted({q.notebook for q in questions}))


def _manual_points(plans: list, questions: list) -> dict[str, float | None]:
    """nbgrader's points for the questions graded by hand (they need no run)."""
    found = {}
    for plan in plans:
        run = NotebookRun(plan, [StepResult("not run") for _ in plan.steps], "ok", "")
        for score in nbgrader_format.score(run, questions):
            if score.kind == "manual":
                found[score.name] = score.points
    return found


def _checksum_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "checksum" in r.getMessage().lower()]


@pytest.fixture(scope="module")
def user_guide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    if not (USER_GUIDE / "source" / "ps1").is_dir():
        pytest.skip("this nbgrader package ships without its user guide's problem set")
    root = tmp_path_factory.mktemp("nbgrader-course")
    questions = nbgrader_format.generate(USER_GUIDE / "source" / "ps1", root, "ps1")
    return root, questions


def test_the_user_guides_problem_set_untouched_gets_automatic_zeros_silently(
    user_guide: tuple[Path, list], caplog: pytest.LogCaptureFixture
) -> None:
    root, questions = user_guide
    kinds = {q.name: q.kind for q in questions}
    assert kinds["sum_of_squares_application"] == "manual"  # a code answer graded by hand
    assert kinds["correct_squares"] == "auto"
    released = root / "release" / "ps1"
    handed_out = nbformat.read(released / "problem1.ipynb", as_version=4)
    answer = next(
        c for c in handed_out.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "sum_of_squares_application"
    )  # fmt: skip
    assert "raise NotImplementedError()" in answer.source
    with caplog.at_level(logging.WARNING):
        plans = _plan(root, released, questions)
    assert _checksum_warnings(caplog) == []
    assert [p.notes for p in plans] == [[], []]
    points = _manual_points(plans, questions)
    # nbgrader's rule: an answer left as handed out gets 0 (coursehub still waits for a person)
    assert points == {
        "sum_of_squares_equation": 0,
        "sum_of_squares_application": 0,
        "part-a": 0,
        "part-b": 0,
    }


def test_the_user_guides_submissions_wait_for_a_person_and_real_changes_are_noted(
    user_guide: tuple[Path, list],
) -> None:
    root, questions = user_guide
    # hacker answered everything: each answer waits for a person
    hacker = _plan(root, USER_GUIDE / "submitted" / "hacker" / "ps1", questions)
    assert set(_manual_points(hacker, questions).values()) == {None}
    # bitdiddle commented out two test cells: put back, and said so (their metadata says
    # locked: false, as the notebook's toolbar writes it; nbgrader locks grade cells)
    bitdiddle = _plan(root, USER_GUIDE / "submitted" / "bitdiddle" / "ps1", questions)
    assert bitdiddle[0].notes == [
        "cell correct_squares was changed: the instructor's version was used",
        "cell squares_invalid_input was changed: the instructor's version was used",
    ]
    restored = {
        c.metadata.nbgrader["grade_id"]: c.source
        for c in bitdiddle[0].nb.cells
        if "nbgrader" in c.metadata
    }
    assert restored["correct_squares"].splitlines()[1] == "assert squares(1) == [1]"


def test_an_untouched_test_cell_with_hidden_tests_is_not_reported_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The student's copy of the cell lacks the hidden tests nbgrader's checksum was
    made with: grading it must not log 'checksum has changed' every time."""
    source = nbgrader_source(tmp_path / "src" / "ps1")
    root = tmp_path / "course"
    root.mkdir()
    questions = nbgrader_format.generate(source, root, "ps1")
    submitted = tmp_path / "submitted"
    shutil.copytree(root / "release" / "ps1", submitted)
    with caplog.at_level(logging.WARNING):
        (plan,) = _plan(root, submitted, questions)
    assert _checksum_warnings(caplog) == [] and plan.notes == []
    test = next(s for s in plan.steps if s.question == "test_square")
    assert "BEGIN HIDDEN TESTS" in test.payload  # the instructor's whole test runs
