"""The code the grader sends into the sandboxed kernel to run one test, and the
reading of what comes back.

Why not just run the test cell and look at its output, as nbgrader and otter do?
Because the student's code runs in the same interpreter first and can hide errors
(override ``showtraceback`` or ``sys.excepthook``), end the kernel early
(``sys.exit``/``os._exit``, after which unexecuted test cells show no error), make
an object that equals anything, or replace the test helpers. So:

- each test is run by a fresh harness that first removes the hooks a notebook can
  install (input and AST transformers, event callbacks, a replaced
  ``showtraceback``), neutralises values and classes whose ``==`` is true for an
  object they have never seen, and runs the instructor's test code (never the
  student's copy of it) in the student's namespace;
- the harness reports through a pipe inherited from the grader, tagged with a
  secret made for this run: a test counts only if its record arrives. Anything that
  stops the harness (an exit, a crash, a replaced builtin) fails the test; nothing
  the student's code prints can pass it.

What this cannot rule out: code written to intercept this harness itself (it runs in
the same interpreter, so it can read what is sent to it). Graded notebooks are kept,
and every neutralised value or replaced hook is reported for review.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

# Runs inside the kernel. `A` holds the arguments; nothing is imported from the
# student's namespace.
_HARNESS = r"""
import sys as _sys, posix as _posix
# Files in the work directory (and the private /tmp) are the student's: while the harness
# and the test run, they come after the installed modules and cannot stand in for them.
_cwd = _posix.getcwd().rstrip("/") + "/"
def _theirs(p):
    return not isinstance(p, str) or not p.startswith("/") or "/.." in p or (p + "/").startswith(
        (_cwd, "/tmp/", "/var/tmp/", "/dev/shm/"))
_saved_path = _sys.path[:]
_sys.path[:] = [p for p in _saved_path if not _theirs(p)] + [_cwd]
_sys.path_importer_cache.clear()
def _finder_ok(f):
    _mod = type(f).__module__
    _where = getattr(_sys.modules.get(_mod), "__file__", None)
    return _mod != "__main__" and (_where is None or not _theirs(_where))
_sys.meta_path[:] = [f for f in _sys.meta_path if _finder_ok(f)]
# the student may have patched the modules the harness and the tests use: load fresh ones
for _m in list(_sys.modules):
    _file = getattr(_sys.modules[_m], "__file__", None)
    if _m.split(".")[0] in ("json", "ast", "traceback", "doctest", "otter", "io") or (
            isinstance(_file, str) and _theirs(_file)):
        del _sys.modules[_m]
import ast as _ast, json as _json, os as _os, io as _io, traceback as _tb
from IPython import get_ipython as _gi
_ip = _gi(); _ns = _ip.user_ns; _found = []
_ip.input_transformers_post.clear(); _ip.ast_transformers.clear()
for _ev, _cbs in list(_ip.events.callbacks.items()):
    _keep = [c for c in _cbs if getattr(c, "__module__", "") not in ("__main__", None)]
    if len(_keep) != len(_cbs):
        _found.append("removed %d %s hook(s)" % (len(_cbs) - len(_keep), _ev)); _cbs[:] = _keep
if "showtraceback" in vars(_ip):
    del _ip.showtraceback; _found.append("restored showtraceback")
_hook = _sys.excepthook
if _hook is not _sys.__excepthook__ and getattr(_hook, "__module__", "") == "__main__":
    _sys.excepthook = _sys.__excepthook__; _found.append("restored sys.excepthook")
class _Never:
    pass
def _claims_any(v):
    try:
        r = v == _Never()
        return not hasattr(r, "shape") and bool(r)
    except BaseException:
        return False
def _neuter(cls):
    for _n in ("__eq__", "__ne__"):
        for _c in cls.__mro__[:-1]:
            if _n in vars(_c):
                try: setattr(_c, _n, getattr(object, _n))
                except BaseException: pass
for _k, _v in list(_ns.items()):
    if _k.startswith("_") or type(_v).__name__ in ("module", "function", "builtin_function"):
        continue
    _cls = _v if isinstance(_v, type) else type(_v)
    if _cls.__module__ == "builtins": continue
    try: _probe = _cls.__new__(_cls) if isinstance(_v, type) else _v
    except BaseException: continue
    if _claims_any(_probe):
        _neuter(_cls); _found.append("%s equals anything (its == was reset)" % _k)
_rec = {"nonce": A["nonce"], "step": A["step"], "found": _found}
_err = _io.StringIO(); _old_err = _sys.stderr; _sys.stderr = _err
try:
    if A["kind"] == "nbgrader":
        _tree = _ast.parse(A["source"]); _last = None
        if _tree.body and isinstance(_tree.body[-1], _ast.Expr):
            _last = _ast.Expression(_tree.body.pop().value)
        exec(compile(_tree, "<test %s>" % A["name"], "exec"), _ns)
        _val = eval(compile(_last, "<test %s>" % A["name"], "eval"), _ns) if _last else None
        _rec["ok"] = True
        if type(_val) in (int, float):
            _rec["value"] = float(_val)
        # an object made inside the student's functions that equals anything
        import gc as _gc
        for _o in _gc.get_objects():
            if isinstance(_o, type) and getattr(_o, "__module__", "") == "__main__":
                try: _p = _o.__new__(_o)
                except BaseException: continue
                if _claims_any(_p):
                    _rec["ok"] = False; _rec["error"] = "AlwaysEqual"
                    _rec["message"] = "an object that equals anything took part in this test"
                    _found.append("%s equals anything (test not counted)" % _o.__name__)
                    break
    else:
        from otter.test_files.ok_test import OKTestFile as _OK
        _tf = _OK.from_spec(A["spec"], path=A["name"])
        _tf.run(_ns)
        _rec["ok"] = True
        _rec["cases"] = [
            {"name": str(r.test_case.name), "passed": r.passed is True,
             "message": str(r.message)[:4000]} for r in _tf.test_case_results
        ]
except BaseException as _e:
    _rec["ok"] = False
    _rec["error"] = type(_e).__name__
    try: _rec["message"] = "".join(_tb.format_exception_only(type(_e), _e))[-2000:]
    except BaseException: _rec["message"] = type(_e).__name__
finally:
    _sys.stderr = _old_err
_rec["stderr"] = _err.getvalue()[-2000:]
_sys.path[:] = _saved_path
_os.write(A["fd"], (_json.dumps(_rec) + "\n").encode())
"""


def new_nonce() -> str:
    return secrets.token_hex(16)


def test_code(nonce: str, fd: int, step: int, kind: str, name: str, payload: Any) -> str:
    """The cell sent to run one test: the harness, with its arguments as a literal."""
    args: dict[str, Any] = {"nonce": nonce, "fd": fd, "step": step, "kind": kind, "name": name}
    if kind == "nbgrader":
        args["source"] = payload
    else:
        args["spec"] = payload
    # a plain literal: no call into a module the student's code could have patched
    return (
        f"exec(compile({_HARNESS!r}, '<coursehub grader>', 'exec'), "
        f"{{'A': {args!r}, '__builtins__': __import__('builtins')}})"
    )


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


def read_records(lines: list[str], nonce: str) -> dict[int, TestRecord]:
    """The first record per step carrying this run's nonce; anything else is ignored."""
    records: dict[int, TestRecord] = {}
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict) or rec.get("nonce") != nonce:
            continue
        step = rec.get("step")
        if not isinstance(step, int) or step in records:
            continue
        value = rec.get("value")
        cases = rec.get("cases")
        records[step] = TestRecord(
            step=step,
            ok=rec.get("ok") is True,
            value=float(value) if isinstance(value, int | float) else None,
            cases=cases if isinstance(cases, list) else None,
            error=str(rec.get("error", ""))[:200],
            message=str(rec.get("message", ""))[:4000],
            stderr=str(rec.get("stderr", ""))[:2000],
            found=[str(f)[:200] for f in rec.get("found", [])][:20]
            if isinstance(rec.get("found"), list)
            else [],
        )
    return records
