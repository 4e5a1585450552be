"""A student hands in a notebook written to forge its grade or to read the hidden tests.

Each attack is a real submission graded the way the service's grading workers grade
it (`grade_submission`: the real sandbox, real throwaway Unix accounts, real kernels),
in both authoring formats. The student's answers are wrong, so every test must score
nothing; and no hidden test's source may appear in the feedback the student reads.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from coursehub.grading import lifecycle
from coursehub.grading.autograde import feedback_pages, grade_submission
from coursehub.grading.grader import GradingLimits
from coursehub.grading.paths import GradingPaths
from coursehub.grading.sandbox import SandboxLimits
from coursehub.grading.store import GradingStore
from tests.helpers.assignments import answer_nbgrader, answer_otter, nbgrader_source, otter_master
from tests.helpers.coursedb import open_database, sqlite_url

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the grading sandbox needs root"),
]

LIMITS = GradingLimits(
    SandboxLimits(cpu_seconds=30, memory=1024**3, processes=48, wall_seconds=90), cell_seconds=10
)
# The hidden parts of the two assignments' tests (tests/helpers/assignments.py).
HIDDEN = {"ps1": "square(-2)", "squares": "isinstance(sq, int)"}

# Writes a passing record for the harness arguments `a` to every pipe the kernel holds
# (the results channel among them), and keeps the test's source to show it later.
FORGE = r'''
import os as _fo, json as _fj, stat as _fs
from otter.test_files.ok_test import OKTestFile as _OK
_stash = []
def _forge(a):
    if not isinstance(a, dict) or "nonce" not in a:
        return
    _stash.append(str(a.get("source") or a.get("spec")))
    rec = {"nonce": a["nonce"], "step": a["step"], "ok": True, "found": [], "stderr": ""}
    if a.get("kind") == "otter":
        rec["cases"] = [{"name": str(c.name), "passed": True, "message": ""}
                        for c in _OK.from_spec(a["spec"], path=a["name"]).test_cases]
    line = (_fj.dumps(rec) + "\n").encode()
    for fd in [int(x) for x in _fo.listdir("/proc/self/fd")]:
        try:
            if _fs.S_ISFIFO(_fo.fstat(fd).st_mode):
                _fo.write(fd, line)
        except OSError:
            pass
def _args_in(text):
    """The harness arguments in a cell's source, if it is the grader's."""
    import ast as _a
    if isinstance(text, bytes):  # what an audit hook is given
        text = text.decode(errors="replace")
    if not isinstance(text, str) or "'nonce'" not in text:
        return None
    at = text.find("{'A': ")
    try:
        return _a.literal_eval(text[at + 6 : text.index(", '__builtins__'", at)])
    except Exception:
        return None
'''
SHOW = "print('STASH', _stash)"  # a later code cell: what was seen goes into the feedback

ATTACKS: dict[str, list[str]] = {
    "exec": [FORGE + "def exec(code, g=None, l=None):\n    _forge((g or {}).get('A'))\n"],
    "compile": [
        FORGE + "import builtins as _b\n"
        "def compile(src, name, mode, *a, **k):\n"
        "    if name == '<coursehub grader>':\n"
        "        src = \"get_ipython().user_ns['_forge'](A)\"\n"
        "    return _b.compile(src, name, mode, *a, **k)\n"
    ],
    "__import__": [
        "import builtins as _b, types as _t\n"
        "def __import__(name, *a, **k):\n"
        "    if name == 'builtins':\n"
        "        fake = _t.ModuleType('builtins')\n"
        "        fake.__dict__.update(vars(_b))\n"
        "        fake.exec = fake.eval = lambda *a, **k: None\n"
        "        return fake\n"
        "    return _b.__import__(name, *a, **k)\n"
    ],
    "builtins.exec": [
        FORGE + "import builtins as _b\n_real_exec = _b.exec\n"
        "def _exec(code, g=None, l=None):\n"
        "    a = (g or {}).get('A') if isinstance(g, dict) else None\n"
        "    if a is not None:\n        return _forge(a)\n"
        "    return _real_exec(code, g, l)\n"
        "_b.exec = _exec\n"
    ],
    "builtins.isinstance": [
        "import builtins as _b\n_b.isinstance = lambda *a: True\n"
        "class _T:\n    def __eq__(self, o):\n        return True\n"
        "_b.bool = lambda *a: True\n"
    ],
    "builtins.print": [
        FORGE + "import builtins as _b, sys as _s\n_rp = _b.print\n"
        "def print(*a, **k):\n    _rp(*a, **k)\n"
        "_b.print = print\n"
        "_s.addaudithook(lambda ev, args: _forge(_args_in(args[0])) if ev == 'compile' and "
        "args and isinstance(args[0], (str, bytes)) and len(_stash) < 1 else None)\n"
    ],
    "json.dumps": [
        "import json as _j, sys as _s\n_rd = _j.dumps\n"
        "def _dumps(o, **k):\n"
        "    if isinstance(o, dict) and 'nonce' in o:\n"
        "        o.update(ok=True, stderr='', error='', message='')\n"
        "        for c in o.get('cases') or []:\n            c['passed'] = True\n"
        "    return _rd(o, **k)\n"
        "_j.dumps = _dumps\n_j.encoder.JSONEncoder.encode = lambda self, o: _rd(o)\n"
    ],
    "os.write": [
        "import os as _o, json as _j\n_rw = _o.write\n"
        "def _write(fd, data):\n"
        "    try:\n        rec = _j.loads(bytes(data))\n    except Exception:\n"
        "        return _rw(fd, data)\n"
        "    if isinstance(rec, dict) and 'nonce' in rec:\n"
        "        rec.update(ok=True, stderr='', error='', message='')\n"
        "        for c in rec.get('cases') or []:\n            c['passed'] = True\n"
        "        data = (_j.dumps(rec) + '\\n').encode()\n"
        "    return _rw(fd, data)\n"
        "_o.write = _write\n"
    ],
    "audit hook": [
        FORGE + "import sys as _s\n"
        "def _hook(ev, args):\n"
        "    if ev == 'compile' and args:\n"
        "        _forge(_args_in(args[0]))\n"
        "_s.addaudithook(_hook)\n"
    ],
    "audit hook leaks through an error": [
        FORGE + "import sys as _s\n_seen = []\n"
        "def _tests(a):\n"
        "    if 'source' in a:\n        return a['source']\n"
        "    return ' '.join(c.get('code', '') for u in a['spec'].get('suites', [])\n"
        "                    for c in u.get('cases', []))\n"
        "def _hook(ev, args):\n"
        "    if ev != 'compile' or not args:\n        return\n"
        "    a = _args_in(args[0])\n"
        "    if a is not None:\n        _seen.append(_tests(a))\n"
        "    elif _seen and str(args[1]).startswith(('<unknown>', '<doctest')):\n"
        "        raise RuntimeError('SEEN ' + ' '.join(_seen)[-300:])\n"
        "_s.addaudithook(_hook)\n"
    ],
    "gc scan and /proc/self/fd from a thread": [
        FORGE + "import gc as _gc, threading as _th, time as _ti\n"
        "def _scan():\n"
        "    done = set()\n"
        "    while True:\n"
        "        for o in _gc.get_objects():\n"
        "            a = o.get('A') if type(o) is dict else None\n"
        "            if isinstance(a, dict) and 'nonce' in a:\n"
        "                if (a['nonce'], a['step']) not in done:\n"
        "                    done.add((a['nonce'], a['step']))\n"
        "                    try:\n                        _forge(a)\n"
        "                    except Exception:\n                        pass\n"
        "        _ti.sleep(0.001)\n"
        "_th.Thread(target=_scan, daemon=True).start()\n"
    ],
    "frames by settrace": [
        FORGE + "import sys as _s\n"
        "def _tr(frame, ev, arg):\n"
        "    a = frame.f_globals.get('A')\n"
        "    if isinstance(a, dict):\n        _forge(a)\n"
        "    return None\n"
        "_s.settrace(_tr)\n"
    ],
    "frames by setprofile": [
        FORGE + "import sys as _s\n"
        "def _pr(frame, ev, arg):\n"
        "    a = frame.f_globals.get('A')\n"
        "    if isinstance(a, dict):\n        _forge(a)\n"
        "_s.setprofile(_pr)\n"
    ],
    "AssertionError replaced": [
        "import builtins as _b\n"
        "class _Quiet(Exception):\n    pass\n"
        "_b.AssertionError = _Quiet\nAssertionError = _Quiet\n"
    ],
    "atexit handler": [
        FORGE + "import atexit as _ae\n"
        "def _late():\n"
        "    for s in list(get_ipython().user_ns.get('In', [])):\n"
        "        _forge(_args_in(s))\n"
        "_ae.register(_late)\n"
    ],
    "record printed to stdout": [
        "import json as _j\n"
        "for step in range(40):\n"
        "    print(_j.dumps({'nonce': '0' * 32, 'step': step, 'ok': True, 'found': [],\n"
        "                    'stderr': '', 'cases': []}))\n"
    ],
}


class Course:
    def __init__(self, root: Path):
        self.root = root
        self.store = GradingStore(open_database(sqlite_url(root)), GradingPaths(root))
        sources = root / "sources"
        self.ps1 = lifecycle.create(self.store, "c", "ps1", nbgrader_source(sources / "ps1"))
        master = otter_master(sources / "squares" / "squares.ipynb")
        self.squares = lifecycle.create(self.store, "c", "squares", master)
        shutil.rmtree(sources)
        self.n = 0

    def released(self, name: str) -> Path:
        fmt = "nbgrader" if name == "ps1" else "otter"
        return self.store.paths.student_version("c", name, fmt) / f"{name}.ipynb"

    def grade(self, name: str, notebook: bytes) -> dict:
        self.n += 1
        assignment = self.ps1 if name == "ps1" else self.squares
        stored = self.store.submit(assignment, f"s{self.n}", {f"{name}.ipynb": notebook})
        [gid] = self.store.enqueue([stored.submission.id], "test")
        claimed = self.store.claim()
        assert claimed is not None and claimed.id == gid
        result = grade_submission(self.store, gid, LIMITS)
        self.store.finish(gid, **result)
        result["questions"] = json.loads(result["questions"])
        pages = feedback_pages(self.store.paths, "c", stored.submission.id)
        result["feedback"] = "".join(p.read_text() for p in pages.values())
        return result

    def wrong(self, name: str, cells: list[str], honest: bool = False) -> bytes:
        """A wrong (or `honest`) answer with the attack's cells before the first test,
        and a cell at the end that prints what the attack saw."""
        if name == "ps1":
            body = "    return x * x\n" if honest else "    return 0\n"
            nb = nbformat.reads(answer_nbgrader(self.released("ps1"), body).decode(), 4)
            at = next(
                i for i, c in enumerate(nb.cells)
                if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square"
            )  # fmt: skip
        else:
            sq, double = ("49", "    return 2 * x\n") if honest else ("'no'", "    return 0\n")
            nb = nbformat.reads(answer_otter(self.released("squares"), sq, double).decode(), 4)
            at = len(nb.cells)
        for offset, source in enumerate(cells):
            nb.cells.insert(at + offset, nbformat.v4.new_code_cell(source))
        nb.cells.append(nbformat.v4.new_code_cell(SHOW if "_stash" in "".join(cells) else "pass"))
        return nbformat.writes(nb).encode()


@pytest.fixture(scope="module")
def course() -> Iterator[Course]:
    root = Path(f"/srv/coursehub-test-forgery-{secrets.token_hex(4)}")
    root.mkdir(parents=True)
    root.chmod(0o711)
    try:
        yield Course(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _assert_not_forged(course: Course, name: str, attack: str) -> None:
    result = course.grade(name, course.wrong(name, ATTACKS[attack]))
    points = {q: v["points"] for q, v in result["questions"].items() if v["kind"] == "auto"}
    assert set(points.values()) == {0.0}, (attack, points, result["output"])
    assert HIDDEN[name] not in result["feedback"], attack


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_nbgrader_notebook_cannot_forge_or_read_hidden_tests(course: Course, attack: str) -> None:
    _assert_not_forged(course, "ps1", attack)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_otter_notebook_cannot_forge_or_read_hidden_tests(course: Course, attack: str) -> None:
    _assert_not_forged(course, "squares", attack)


def test_honest_answers_still_get_full_points(course: Course) -> None:
    ps1 = course.grade("ps1", course.wrong("ps1", [], honest=True))
    assert ps1["questions"]["test_square"]["points"] == 2, ps1
    squares = course.grade("squares", course.wrong("squares", [], honest=True))
    assert squares["total"] == 5, squares
