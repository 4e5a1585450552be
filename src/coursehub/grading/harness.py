"""How a grading run decides whether a test passed, so that the student's code cannot
forge the result or read the hidden tests.

Any code that runs in a process after the student's code is theirs to intercept: a
replaced ``exec``, ``compile``, ``__import__`` or builtin, an audit hook (it sees
every source compiled and cannot be removed), a trace or profile function, a thread
that scans ``gc`` for secrets, writes to every descriptor in ``/proc/self/fd``. So no
test is ever compiled, and no result is ever produced, in a process the student's code
has run in. Instead:

1. The kernel (the student's account, in the sandbox) runs the student's code cells.
   At each test's place the grader sends a cell that forks the kernel
   (student/grading_snapshot.py): the copy keeps the notebook's state there and
   waits on one end of a socket pair the kernel was started with. The test itself
   is not sent.
2. After the last cell, once every output for the feedback has been collected from
   the kernel, the grader hands the other ends, one per test, to the test process
   (evaluator.py). It runs as a second throwaway account in a box of its own (the
   student's account cannot trace it, read its memory or signal it), with Python's
   own builtins and its own imports. It takes the names a test uses from the copy:
   plain data (numbers, strings, containers, numpy arrays) as copies, anything else as
   a handle whose attributes, calls and items the copy answers
   (core/grading_wire.py). A handle never sees a test's value in ``==``: it equals
   only the notebook's own objects.
3. The result is what the test process reports to the grader on its own socket.
   Nothing the student's processes print or write reaches the result or the feedback
   after step 1; what the test prints is kept only for nbgrader's "stderr fails" rule.
   Tests with no hidden part run first (their messages may be shown), then tests with
   hidden parts, whose feedback names the test and its error type only.

What this still cannot rule out:
- The copy sees what a test asks of it: the names it uses and the arguments it passes
  to the student's functions, hidden ones included. It can answer as it likes, as the
  student's functions could; and it could keep what it saw, but nothing it keeps can
  reach the feedback, which is complete before any test runs.
- A handle's ``str``, ``repr``, ``len``, truth and membership are the notebook's
  answers, as they would be anywhere (a doctest compares the ``repr`` it gets).
- Only plain data crosses as copies: a test that passes its own function or object to
  the student's code, compares a pandas frame with its own, does arithmetic on the
  notebook's own objects or checks ``isinstance`` against the notebook's own classes
  fails (each needs the test to trust the notebook's code with the test's values); names that are
  builtins always mean Python's own, even if the notebook defines them; a module the
  notebook imported is imported afresh by the tests from the installed environment
  (a module of the submission's own folder cannot be).
- The tests run in a fresh copy of the submission with the instructor's files laid
  over it: a file the student hands in that the instructor has none of is read as
  handed in, as before.
- Each test sees the state at its own place; state a test changes is not seen by the
  next one (the copies are separate processes), nor by the student's later cells:
  of earlier test cells, a test sees only the imports, functions and classes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

HIDDEN_MARK = "BEGIN HIDDEN TESTS"  # nbgrader's delimiter of hidden tests
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def snapshot_code(fd: int, reap: bool = False) -> str:
    """The cell sent at a test's place: copy the kernel, the copy answers on `fd`."""
    module = "__import__('coursehub.student.grading_snapshot', fromlist=['fork'])"
    return f"{module}.fork({fd}, reap={reap})"


def definitions(sources: list[str]) -> str:
    """The imports, functions and classes that earlier test cells define: tests run in
    a fresh namespace each, and a later test cell may use them (`assert_equal`)."""
    kept: list[ast.stmt] = []
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        kept += [node for node in tree.body if isinstance(node, _DEFINITIONS)]
    return ast.unparse(ast.Module(body=kept, type_ignores=[])) if kept else ""


def jobs_for(
    kind: str, name: str, payload: Any, earlier: str = ""
) -> list[tuple[bool, dict[str, Any]]]:
    """The test process's jobs for one test step, each with whether it is hidden;
    `earlier` is what earlier test cells define (nbgrader)."""
    if kind == "nbgrader":
        hidden = HIDDEN_MARK in str(payload).upper()
        job = {"kind": "nbgrader", "name": name, "source": payload, "earlier": earlier}
        return [(hidden, job)]
    from otter.test_files.ok_test import OKTestFile

    cases = OKTestFile.from_spec(payload, path=name).test_cases
    jobs = []
    for hidden in (False, True):
        picked = [i for i, case in enumerate(cases) if bool(case.hidden) is hidden]
        if picked:
            jobs.append((hidden, {"kind": "otter", "name": name, "spec": payload, "cases": picked}))
    return jobs


@dataclass(frozen=True)
class TestRecord:
    step: int
    ok: bool
    value: float | None
    cases: list[dict[str, Any]] | None
    error: str
    message: str
    stderr: str
    found: list[str]
    hidden: bool = False


def record_from(step: int, parts: list[tuple[bool, dict[str, Any]]]) -> TestRecord:
    """One step's record from its jobs' reports (an otter question has up to two, each
    hidden or not); of a hidden job nothing beyond pass or fail and its error type is
    kept."""
    reports = []
    for hidden, report in parts:
        report = dict(report)
        if hidden:
            report["message"] = ""
            report["stderr"] = "the test wrote on stderr" if report.get("stderr") else ""
            report["cases"] = [
                {**c, "message": ""} for c in report.get("cases") or [] if isinstance(c, dict)
            ] if "cases" in report else None
        reports.append(report)
    ok = bool(reports) and all(r.get("ok") is True for r in reports)
    failed = next((r for r in reports if r.get("ok") is not True), {})
    cases = [c for r in reports for c in (r.get("cases") or []) if isinstance(c, dict)]
    value = reports[0].get("value") if len(reports) == 1 else None
    return TestRecord(
        step=step,
        ok=ok,
        value=float(value) if isinstance(value, int | float) and type(value) is not bool else None,
        cases=cases if any(r.get("cases") is not None for r in reports) else None,
        error=str(failed.get("error") or "")[:200],
        message=str(failed.get("message") or "")[:4000],
        stderr="".join(str(r.get("stderr") or "") for r in reports)[-2000:],
        found=[str(f)[:200] for r in reports for f in (r.get("found") or [])][:20],
        hidden=any(hidden for hidden, _ in parts),
    )
