"""The process that runs the instructor's tests (``python -I -m coursehub.grading.evaluator
FD [otter]``), as a throwaway account of its own, never the one the student's code runs as.

It reads jobs from the grader on the socket `FD`; each comes with a connection to the
notebook's state at that test's place (see student/grading_snapshot.py). The test's
code runs here, with Python's own builtins and its own imports; a name the test takes
from the notebook arrives as a copy when it is plain data, or as a `Remote` handle whose attributes,
calls and items are answered by the notebook's process. The result goes back to the
grader on `FD`; what the test prints is kept only as the grader's rules need it.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import ctypes
import importlib
import io
import socket
import sys
import traceback
from collections.abc import Iterator
from typing import Any

from coursehub.core import grading_wire as wire

_PR_SET_DUMPABLE = 4


class StudentError(Exception):
    """The notebook's code raised an exception that is not one of Python's own."""


class NotebookGone(Exception):
    """The notebook's process stopped answering (it exited, crashed or was stopped)."""


class Session:
    """One connection to the notebook's state at one test's place."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.notes: list[str] = []

    def ask(self, op: str, target: Remote | None = None, **fields: Any) -> Any:
        message = {"op": op, **fields}
        if target is not None:
            message["target"] = target._ref()
        try:
            wire.send(self.conn, message)
            reply = wire.receive(self.conn)
        except OSError as exc:
            raise NotebookGone("the notebook's process stopped answering") from exc
        if reply is None:
            raise NotebookGone("the notebook's process stopped answering")
        if reply.get("stop"):
            raise StopIteration
        if "raise" in reply:
            name, text = (str(v)[:1000] for v in reply["raise"][:2])
            raise _error(name, text)
        return wire.decode(reply.get("value"), lambda n, t: Remote(self, n, t))

    def send_value(self, value: Any) -> Any:
        return wire.encode(value, self._handle_out)

    def _handle_out(self, value: Any) -> Any:
        if isinstance(value, Remote) and value._session is self:
            return value._ref()
        raise TypeError(
            f"the test passes a {type(value).__name__} to the notebook's code; only plain "
            "data and the notebook's own objects can be passed"
        )


def _error(name: str, text: str) -> Exception:
    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, Exception):
        with contextlib.suppress(Exception):
            return found(text)
    return StudentError(f"{name}: {text}")


class Remote:
    """An object of the notebook's, used by the tests through its process. It never
    sees a test's value in a comparison: it equals only itself (or another of the
    notebook's objects that its own ``==`` says it equals)."""

    __slots__ = ("_session", "_id", "_type")

    def __init__(self, session: Session, ident: int, type_name: str) -> None:
        self._session = session
        self._id = ident
        self._type = type_name

    def _ref(self) -> list[Any]:
        return ["H", self._id, self._type]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._session.ask("attr", self, name=name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        s = self._session
        return s.ask("call", self, args=s.send_value(list(args)), kwargs=s.send_value(kwargs))

    def __getitem__(self, key: Any) -> Any:
        return self._session.ask("item", self, key=self._session.send_value(key))

    def __len__(self) -> int:
        n = self._session.ask("len", self)
        if type(n) is not int or n < 0:
            raise TypeError("len() of the notebook's object is not a count")
        return n

    def __iter__(self) -> Iterator[Any]:
        it = self._session.ask("iter", self)
        if not isinstance(it, Remote):
            raise TypeError("the notebook's object gave no iterator")
        while True:
            try:
                yield self._session.ask("next", it)
            except StopIteration:
                return

    def __bool__(self) -> bool:
        return self._session.ask("bool", self) is True

    def __str__(self) -> str:
        return str(self._session.ask("str", self))

    def __repr__(self) -> str:
        return str(self._session.ask("repr", self))

    def __contains__(self, item: Any) -> bool:
        return self._session.ask("contains", self, item=self._session.send_value(item)) is True

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Remote) and other._session is self._session:
            return self._session.ask("same", self, other=other._ref()) is True
        note = f"a {self._type} of the notebook's was compared with a test's value: not equal"
        if note not in self._session.notes:
            self._session.notes.append(note)
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((id(self._session), self._id))


def namespace(session: Session, sources: list[str]) -> dict[str, Any]:
    """The names the test's code uses, from the notebook: builtins are always Python's
    own, and a module the notebook imported is imported here afresh."""
    names: set[str] = set()
    for source in sources:
        with contextlib.suppress(SyntaxError):
            names |= {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    names -= set(dir(builtins))
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    found = session.ask("names", names=sorted(names)) if names else {}
    for name, value in (found if isinstance(found, dict) else {}).items():
        if isinstance(value, wire.ModuleRef):
            with contextlib.suppress(Exception):
                ns[name] = importlib.import_module(value)
        else:
            ns[name] = value
    return ns


def run_nbgrader(job: dict[str, Any], session: Session) -> dict[str, Any]:
    source = str(job["source"])
    record: dict[str, Any] = {"ok": False}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            earlier = str(job.get("earlier") or "")
            ns = namespace(session, [earlier, source])
            with contextlib.suppress(Exception):  # as when those cells ran before
                exec(compile(earlier, "<earlier tests>", "exec"), ns)
            tree = ast.parse(source)
            last = None
            if tree.body and isinstance(tail := tree.body[-1], ast.Expr):
                tree.body.pop()
                last = ast.Expression(tail.value)
            exec(compile(tree, f"<test {job['name']}>", "exec"), ns)
            value = eval(compile(last, f"<test {job['name']}>", "eval"), ns) if last else None
            record["ok"] = True
            if isinstance(value, int | float) and type(value) is not bool:
                record["value"] = float(value)
        except BaseException as exc:  # noqa: BLE001 - any error fails the test
            record["error"] = type(exc).__name__
            record["message"] = _failure(exc, source, f"<test {job['name']}>")
    record["stderr"] = err.getvalue()[-2000:]
    record["found"] = session.notes[:20]
    return record


def _failure(exc: BaseException, source: str, filename: str) -> str:
    """What failed, as the student can act on it: the test's line that raised (a bare
    `assert` says nothing else), then the error. Only the test's own lines are shown;
    a test with hidden parts never gets this far (harness.record_from clears it)."""
    said = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename != filename or frame.lineno is None:
            continue
        lines = source.splitlines()
        if 0 < frame.lineno <= len(lines):
            line = lines[frame.lineno - 1].strip()[:300]
            return f"line {frame.lineno}: {line}\n{said[-1600:]}"
        break
    return said[-2000:]


def run_otter(job: dict[str, Any], session: Session) -> dict[str, Any]:
    import doctest

    from otter.test_files.ok_test import OKTestFile, run_doctest

    test_file = OKTestFile.from_spec(job["spec"], path=job["name"])
    picked = [(i, test_file.test_cases[i]) for i in job["cases"]]
    parser = doctest.DocTestParser()
    sources = [e.source for _, case in picked for e in parser.get_examples(case.body)]
    record: dict[str, Any] = {"ok": False, "found": session.notes}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            ns = namespace(session, sources)
            cases = []
            for index, case in picked:
                passed, message = run_doctest(f"{job['name']} {index}", case.body, ns)
                cases.append({"name": str(case.name), "passed": passed is True,
                              "message": str(message)[:4000]})  # fmt: skip
            record.update(ok=True, cases=cases)
        except BaseException as exc:  # noqa: BLE001 - any error fails the test
            record["error"] = type(exc).__name__
            record["message"] = "".join(traceback.format_exception_only(type(exc), exc))[-2000:]
    return record


def main() -> None:
    # Not readable or traceable by other processes of the box, whatever their account.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type] # see kernel_launch
    control = socket.socket(fileno=int(sys.argv[1]))
    if "otter" in sys.argv[2:]:  # while the notebook runs, before any job arrives
        import otter.test_files.ok_test  # noqa: F401

    while True:
        marker, fds, _flags, _addr = socket.recv_fds(control, 1, 1)
        if not marker or not fds:
            return
        job = wire.receive(control)
        if job is None:
            return
        with socket.socket(fileno=fds[0]) as conn:
            session = Session(conn)
            run = run_nbgrader if job.get("kind") == "nbgrader" else run_otter
            record = run(job, session)
        wire.send(control, record)


if __name__ == "__main__":
    main()
