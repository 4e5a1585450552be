"""The nbgrader baseline of the grading benchmark, run as its own process:
``python _grading_nbgrader.py SPEC.json``.

nbgrader grades one submission after another (``nbgrader autograde``) and has no
parallelism of its own, so the main run is what an admin writes instead: a
``concurrent.futures.ProcessPoolExecutor`` of ``workers`` processes (2 on 2 cores, as
coursehub's workers), each with nbgrader imported and an ``NbGraderAPI`` on the course
directory before the clock, one student per task through ``NbGraderAPI.autograde``
(what formgrader and ``nbgrader autograde --student`` run; the gradebook is the course's
one SQLite file, shared). The trivial answers are graded one at a time in this process.
Phases (marks on stdout): ``import``, ``overhead``, ``main``, ``done``; then the results,
each with its seconds, the CPU of the grading, and the points from the gradebook.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

from _grading_measure import mark, result

_api: Any = None


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def open_course(root: str) -> None:
    """In each worker (and here): nbgrader's API on the course directory."""
    global _api
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    _api = NbGraderAPI(coursedir=CourseDirectory(root=root))


def autograde(assignment: str, student: str) -> dict[str, Any]:
    started, cpu = time.monotonic(), _cpu()
    done = _api.autograde(assignment, student)
    seconds = time.monotonic() - started
    if not done.get("success"):
        error = (done.get("error") or done.get("log") or "failed")[-500:]
        return {"student": student, "seconds": None, "error": error}
    return {"student": student, "seconds": seconds, "cpu_s": _cpu() - cpu}


def _ready(_: int) -> bool:
    return _api is not None


def scores(root: str, assignment: str, users: list[str]) -> list[dict[str, Any]]:
    """Points per grade cell and total, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    out = []
    with Gradebook(f"sqlite:///{Path(root) / 'gradebook.db'}") as gb:
        for user in users:
            try:
                sub = gb.find_submission(assignment, user)
            except MissingEntry:
                out.append({"total": None, "questions": {}})
                continue
            questions = {g.name: float(g.score) for nb in sub.notebooks for g in nb.grades}
            out.append({"total": float(sub.score), "questions": questions})
    return out


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    spec = json.loads(Path(sys.argv[1]).read_text())
    root = spec["course"]
    mark("import")
    open_course(root)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    mark("overhead")
    trivial = [autograde("trivial", user) for user in spec["trivial_users"]]
    workers = spec["workers"]
    users = spec["users"]
    with ProcessPoolExecutor(max_workers=workers, initializer=open_course,
                             initargs=(root,)) as pool:  # fmt: skip
        list(pool.map(_ready, range(workers * 4)))  # every worker up before the clock
        mark("main")
        graded = list(pool.map(autograde, ["sim"] * len(users), users))
        mark("done")
    for row, points in zip(graded, scores(root, "sim", users), strict=True):
        row.update(points)
    for row, points in zip(trivial, scores(root, "trivial", spec["trivial_users"]), strict=True):
        row.update(points)
    result({"trivial": trivial, "main": graded})
    return 0


if __name__ == "__main__":
    sys.exit(main())
