"""The test process and a notebook's copy, talking over a socket pair in one process:
what crosses as a copy, what stays a handle, and what a handle can never decide."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from coursehub.core import grading_wire as wire
from coursehub.grading.evaluator import Remote, Session, run_nbgrader
from coursehub.student.grading_snapshot import _serve

NOTEBOOK = '''
import math
class Anything:
    def __eq__(self, other):
        return True
    def __sub__(self, other):
        return 0
class Stack:
    def __init__(self):
        self.items = []
    def push(self, x):
        self.items.append(x)
    def pop(self):
        return self.items.pop()
    def __len__(self):
        return len(self.items)
def square(x):
    return x * x
def cheat(x):
    return Anything()
def boom(x):
    raise ValueError("no negatives")
sum = lambda *a: 42
grid = np.arange(6).reshape(2, 3)
'''


@pytest.fixture
def session() -> Iterator[Session]:
    ns: dict[str, Any] = {"np": np}
    exec(NOTEBOOK, ns)
    ours, theirs = socket.socketpair()
    server = threading.Thread(target=_serve, args=(theirs, ns), daemon=True)
    server.start()
    yield Session(ours)
    ours.close()
    server.join(timeout=5)


def _run(session: Session, source: str) -> dict[str, Any]:
    return run_nbgrader({"kind": "nbgrader", "name": "t", "source": source}, session)


def test_plain_answers_pass_and_wrong_ones_fail(session: Session) -> None:
    assert _run(session, "assert square(3) == 9")["ok"] is True
    failed = _run(session, "assert square(3) == 10")
    assert failed["ok"] is False and failed["error"] == "AssertionError"


def test_an_object_that_equals_anything_decides_nothing(session: Session) -> None:
    for source in ("assert cheat(3) == 9", "assert abs(cheat(3) - 9) < 1e-9",
                   "assert not (cheat(3) != 9)"):  # fmt: skip
        assert _run(session, source)["ok"] is False, source
    assert any("Anything" in n for n in _run(session, "cheat(1) == 1; 1")["found"])


def test_the_notebooks_objects_work_through_handles(session: Session) -> None:
    source = "s = Stack()\ns.push(4)\ns.push(5)\nassert len(s) == 2 and s.pop() == 5\n"
    assert _run(session, source)["ok"] is True
    both = "assert math.sqrt(16) == 4 and (grid == np.arange(6).reshape(2, 3)).all()"
    assert _run(session, both)["ok"] is True


def test_builtins_are_pythons_own_even_if_the_notebook_redefines_them(session: Session) -> None:
    assert _run(session, "assert sum([1, 2]) == 3")["ok"] is True


def test_the_notebooks_errors_arrive_as_pythons_own_or_as_a_student_error(
    session: Session,
) -> None:
    code = "try:\n    boom(1)\nexcept ValueError as e:\n    assert 'negatives' in str(e)\n"
    assert _run(session, code)["ok"] is True


def test_partial_credit_value_and_stderr(session: Session) -> None:
    assert _run(session, "square(2) / 8")["value"] == 0.5
    assert _run(session, "import sys\nprint('warn', file=sys.stderr)")["stderr"] == "warn\n"


def test_the_wire_builds_only_plain_values() -> None:
    def refuse(_n: int, _t: str) -> Any:
        raise AssertionError("no handle expected")

    values: list[Any] = [None, True, 3, 2**100, -1.5, float("inf"), 1 + 2j, "s", b"b"]
    values += [[1, (2, {3})], {"k": frozenset({1})}, np.arange(4.0), np.int64(7)]
    for value in values:
        back = wire.decode(wire.encode(value, lambda v: ["H", 0, "x"]), refuse)
        assert type(back) is type(value)
        assert (back == value).all() if isinstance(value, np.ndarray) else back == value
    handled = wire.encode(object(), lambda v: ["H", 1, type(v).__name__])
    assert handled == ["H", 1, "object"]
    remote = wire.decode(["H", 1, "object"], lambda n, t: Remote(None, n, t))  # type: ignore[arg-type]
    assert isinstance(remote, Remote)
    for bad in (["A", "|O", [1], ""], ["Q"], "x", ["I", 5]):
        with pytest.raises(wire.WireError):
            wire.decode(bad, refuse)


def test_a_test_uses_what_earlier_test_cells_import_and_define(session: Session) -> None:
    from coursehub.grading.harness import definitions

    earlier = definitions(
        ["from math import sqrt\nassert square(1) == 1\ndef check(v):\n    assert v == 9\n"]
    )
    assert "assert square" not in earlier
    job = {"kind": "nbgrader", "name": "t", "source": "check(square(3))\nassert sqrt(9) == 3"}
    assert run_nbgrader({**job, "earlier": earlier}, session)["ok"] is True
    assert run_nbgrader(job, session)["ok"] is False


def test_a_failed_test_names_its_line_and_error(session: Session) -> None:
    source = '"""Check square."""\nassert square(3) == 9\nassert square(2) == 5\n'
    failed = _run(session, source)
    assert failed["message"] == "line 3: assert square(2) == 5\nAssertionError"
    helper = "def check(x):\n    assert square(x) == x\ncheck(1)\ncheck(3)\n"
    assert _run(session, helper)["message"] == "line 2: assert square(x) == x\nAssertionError"
    # an error of the notebook's code: the test's line, then what the notebook said
    raised = _run(session, "boom(-1)")
    assert raised["message"] == "line 1: boom(-1)\nValueError: no negatives"
