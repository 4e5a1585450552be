"""Hostile submissions are scored correctly and contained, and the next honest one
grades normally. Real sandbox: throwaway accounts, namespaces, limits, real kernels;
the grading engine is driven directly (no hub needed)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psutil
import pytest

from coursehub.grading import lifecycle, sandbox
from coursehub.grading.autograde import feedback_pages, grade_submission
from coursehub.grading.grader import GradingLimits
from coursehub.grading.paths import GradingPaths
from coursehub.grading.sandbox import ACCOUNT_PREFIX, SandboxLimits
from coursehub.grading.store import GradingStore
from tests.helpers.assignments import answer_nbgrader, answer_otter, nbgrader_source, otter_master
from tests.helpers.coursedb import open_database, sqlite_url

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the grading sandbox needs root"),
]

LIMITS = GradingLimits(
    SandboxLimits(cpu_seconds=20, memory=1024**3, processes=48, wall_seconds=90), cell_seconds=8
)
HONEST = "    return x * x\n"


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

    def grade(self, name: str, notebook: bytes, extra: dict[str, bytes] | None = None) -> dict:
        self.n += 1
        assignment = self.ps1 if name == "ps1" else self.squares
        files = {f"{name}.ipynb": notebook, **(extra or {})}
        stored = self.store.submit(assignment, f"s{self.n}", files)
        [gid] = self.store.enqueue([stored.submission.id], "test")
        claimed = self.store.claim()
        assert claimed is not None and claimed.id == gid
        result = grade_submission(self.store, gid, LIMITS)
        self.store.finish(gid, **result)
        result["questions"] = json.loads(result["questions"])
        result["notes"] = json.loads(result["notes"])
        pages = feedback_pages(self.store.paths, "c", stored.submission.id)
        result["feedback"] = "".join(p.read_text() for p in pages.values())
        return result

    def ps1_with(self, *cells: str, body: str = HONEST) -> bytes:
        """The ps1 answer with extra code cells placed before the test cell."""
        nb = nbformat.reads(answer_nbgrader(self.released("ps1"), body).decode(), as_version=4)
        at = next(
            i for i, c in enumerate(nb.cells)
            if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square"
        )  # fmt: skip
        for offset, source in enumerate(cells):
            nb.cells.insert(at + offset, nbformat.v4.new_code_cell(source))
        return nbformat.writes(nb).encode()


@pytest.fixture(scope="module")
def course() -> Iterator[Course]:
    root = Path(f"/srv/coursehub-test-grading-{secrets.token_hex(4)}")
    root.mkdir(parents=True)
    root.chmod(0o711)
    try:
        yield Course(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _no_sandbox_left() -> None:
    # the accounts this process made (other test processes grade at the same time)
    mine = set(sandbox.recent_accounts)
    assert mine and all(name.startswith(ACCOUNT_PREFIX) for name in mine)
    left = [p.info["username"] for p in psutil.process_iter(["username"])]
    assert not mine & set(left), mine & set(left)
    with open("/etc/passwd") as f:
        assert not [line for line in f if line.split(":", 1)[0] in mine]


def _then_honest(course: Course) -> None:
    result = course.grade("ps1", course.ps1_with())
    assert result["questions"]["test_square"]["points"] == 2, result
    _no_sandbox_left()


def test_honest_submission_gets_full_points(course: Course) -> None:
    result = course.grade("ps1", course.ps1_with())
    assert result["questions"]["test_square"] == {**result["questions"]["test_square"],
                                                  "points": 2.0, "passed": True}  # fmt: skip
    assert result["outcome"] == "ok" and result["notes"] == []


def test_infinite_loop_is_stopped_and_scores_nothing(course: Course) -> None:
    result = course.grade("ps1", course.ps1_with(body="    while True:\n        pass\n"))
    assert result["questions"]["test_square"]["points"] == 0
    assert "stopped after" in result["output"]
    _then_honest(course)


def test_fork_bomb_is_contained(course: Course) -> None:
    bomb = (
        "import os\nfor _ in range(10000):\n"
        "    try:\n        os.fork()\n    except OSError:\n        break"
    )
    result = course.grade("ps1", course.ps1_with(bomb, "import time\ntime.sleep(1)"))
    assert result["questions"]["test_square"]["points"] == 2  # grading went on regardless
    _then_honest(course)


def test_ten_gigabytes_fail_and_the_rest_is_graded(course: Course) -> None:
    result = course.grade("ps1", course.ps1_with("big = bytearray(10 * 1024**3)"))
    assert "MemoryError" in result["feedback"]
    assert result["questions"]["test_square"]["points"] == 2  # the honest square still counts
    _then_honest(course)


def test_sys_exit_does_not_pass_the_tests(course: Course) -> None:
    wrong = "    return 0\n"
    result = course.grade("ps1", course.ps1_with("import sys\nsys.exit(0)", body=wrong))
    assert result["questions"]["test_square"]["points"] == 0
    _then_honest(course)


def test_os_exit_ends_the_kernel_and_unrun_tests_fail(course: Course) -> None:
    result = course.grade("ps1", course.ps1_with("import os\nos._exit(0)"))
    assert result["questions"]["test_square"]["points"] == 0
    assert "died" in result["outcome"]
    _then_honest(course)


def test_hidden_traceback_does_not_hide_a_failure(course: Course) -> None:
    hide = (
        "import sys\nip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
        "sys.excepthook = lambda *a: None\nsys.stderr = open('/dev/null', 'w')"
    )
    result = course.grade("ps1", course.ps1_with(hide, body="    return x + x\n"))
    assert result["questions"]["test_square"]["points"] == 0
    _then_honest(course)


def test_always_equal_object_is_neutralised(course: Course) -> None:
    cheat = "    class Anything:\n        def __eq__(self, other):\n            return True\n"
    result = course.grade("ps1", course.ps1_with(body=cheat + "    return Anything()\n"))
    assert result["questions"]["test_square"]["points"] == 0
    cheat_global = "class A:\n    def __eq__(self, o):\n        return True\nanswer = A()"
    result = course.grade("ps1", course.ps1_with(cheat_global, body=cheat + "    return A()\n"))
    assert result["questions"]["test_square"]["points"] == 0
    assert any("compared with a test's value: not equal" in n for n in result["notes"])
    _then_honest(course)


def test_overridden_otter_helpers_are_replaced(course: Course) -> None:
    patch = (
        "import otter.test_files.ok_test as ok, otter.test_files.abstract_test as ab\n"
        "def run(self, env):\n"
        "    self.test_case_results = [ab.TestCaseResult(c, 'ok', True) for c in self.test_cases]\n"
        "ok.OKTestFile.run = run\n"
        "import doctest\ndoctest.DocTestRunner.run = lambda *a, **k: doctest.TestResults(0, 1)"
    )
    nb = nbformat.reads(
        answer_otter(course.released("squares"), "'no'", "    return 0\n").decode(), as_version=4
    )
    nb.cells.append(nbformat.v4.new_code_cell(patch))
    result = course.grade("squares", nbformat.writes(nb).encode())
    assert result["total"] == 0, result["questions"]
    honest = course.grade(
        "squares", answer_otter(course.released("squares"), "49", HONEST.replace("x * x", "2 * x"))
    )
    assert honest["total"] == 5
    _no_sandbox_left()


def _stand_in(module: str, patch: str) -> bytes:
    """A module for the submission's folder: the standard library's own, then `patch`."""
    return (
        "import importlib.machinery as _m, sys as _s\n"
        f"_spec = _m.PathFinder.find_spec({module!r}, "
        "[p for p in _s.path if p.startswith(_s.base_prefix + '/lib/python')])\n"
        "if _spec.submodule_search_locations:\n"
        "    __path__ = list(_spec.submodule_search_locations)\n"
        "    __package__ = _spec.name\n"
        "exec(compile(open(_spec.origin).read(), _spec.origin, 'exec'), globals())\n" + patch
    ).encode()


def test_modules_brought_in_the_submission_cannot_stand_in_for_the_graders(
    course: Course,
) -> None:
    # a json.py that marks every test record passed, handed in next to the notebook
    forge_json = _stand_in(
        "json",
        "_real_dumps = dumps\n"
        "def dumps(o, **k):\n"
        "    if isinstance(o, dict) and 'nonce' in o:\n"
        "        o.update(ok=True, stderr='', value=None)\n"
        "    return _real_dumps(o, **k)\n",
    )
    wrong = course.ps1_with(body="    return 0\n")
    result = course.grade("ps1", wrong, {"json.py": forge_json})
    assert result["questions"]["test_square"]["points"] == 0, result["questions"]
    # a doctest.py whose runner reports every example passed (otter's tests are doctests)
    forge_doctest = _stand_in(
        "doctest",
        "DocTestRunner.run = lambda self, test, *a, **k: TestResults(0, len(test.examples))\n",
    )
    wrong = answer_otter(course.released("squares"), "'no'", "    return 0\n")
    result = course.grade("squares", wrong, {"doctest.py": forge_doctest})
    assert result["total"] == 0, result["questions"]
    _then_honest(course)


def test_reading_hidden_tests_and_other_files_is_refused(course: Course) -> None:
    secret = course.root / "someone-else.txt"
    secret.write_text("another student's work")
    secret.chmod(0o600)
    source = course.store.paths.nbgrader_root("c") / "source" / "ps1" / "ps1.ipynb"
    peek = "\n".join(
        f"try:\n    print(open({str(p)!r}).read())\nexcept OSError as e:\n    print('refused', e)"
        for p in (source, course.store.paths.nbgrader_root("c") / "gradebook.db", secret)
    )
    result = course.grade("ps1", course.ps1_with(peek))
    feedback = result["feedback"]
    # not even there: the box shows no host path beside the work directory
    assert feedback.count("refused") >= 3 and "No such file or directory" in feedback
    assert "square(-2)" not in feedback and "another student" not in feedback
    _then_honest(course)


def test_writing_outside_the_work_directory_is_refused(course: Course) -> None:
    targets = [
        course.root / "evil.txt",
        Path("/srv/evil-from-sandbox.txt"),
        Path("/var/tmp/evil.txt"),
    ]
    write = "\n".join(
        f"try:\n    open({str(t)!r}, 'w').write('x')\nexcept OSError as e:\n    print('refused', e)"
        for t in targets
    )
    result = course.grade("ps1", course.ps1_with(write))
    assert result["questions"]["test_square"]["points"] == 2
    for target in targets:
        assert not target.exists(), target  # refused, or written to the box's private tmp
    _then_honest(course)


def test_no_network_from_a_submission(course: Course) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    connected = threading.Event()

    def accept() -> None:
        for _ in range(100):
            try:
                listener.accept()
                connected.set()
                return
            except TimeoutError:
                continue
            except OSError:  # the test closed the listener: nobody came
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    reach = (
        "import socket\n"
        f"for host in ('127.0.0.1', '10.0.0.1', 'pypi.org'):\n"
        f"    try:\n        socket.create_connection((host, {port}), timeout=2)\n"
        "        print('connected', host)\n"
        "    except OSError as e:\n        print('refused', host, type(e).__name__)"
    )
    result = course.grade("ps1", course.ps1_with(reach))
    listener.close()
    assert not connected.is_set()
    assert "connected 127.0.0.1" not in result["feedback"]
    assert "refused 127.0.0.1" in result["feedback"]
    _then_honest(course)


def test_changed_test_cells_are_ignored_and_reported(course: Course) -> None:
    nb = nbformat.reads(answer_nbgrader(course.released("ps1"), "    return 0\n").decode(), 4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_square":
            cell.source = "pass"
            cell.metadata.nbgrader["points"] = 100
    bonus = nbformat.v4.new_code_cell("pass")
    bonus.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "bonus",
        "points": 100,
        "schema_version": 3,
    }
    nb.cells.append(bonus)
    result = course.grade("ps1", nbformat.writes(nb).encode())
    assert result["questions"]["test_square"]["points"] == 0
    assert result["questions"]["test_square"]["max"] == 2
    assert set(result["questions"]) == {"test_square", "explain"}  # no self-made questions
    assert any("test_square was changed" in n for n in result["notes"])
    assert any("'bonus' is not part of the assignment" in n for n in result["notes"])
