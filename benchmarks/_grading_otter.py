"""The otter baseline of the grading benchmark, run as its own process:
``python _grading_otter.py SPEC.json``.

Grades with otter's own non-containerized grader (``otter.api.grade_submission``, what
``otter run`` calls) against the autograder zip ``otter assign`` made. ``otter grade``'s
own parallelism needs Docker, which a teaching machine often lacks, so the main run is
what an admin writes instead: a ``concurrent.futures.ProcessPoolExecutor`` of
``workers`` processes (2 on 2 cores, as coursehub's workers), each importing otter once
before the clock, one submission per task. The trivial answers are graded one at a
time in this process (the fixed cost of one submission graded alone).
Phases (marks on stdout): ``import``, ``overhead`` (the trivial answers), ``main``,
``done``; then the results, each with its seconds and the CPU of the grading (the
worker and the kernel it started and reaped).
"""

from __future__ import annotations

import json
import math
import resource
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

from _grading_measure import mark, result


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def grade_one(zip_path: str, answer: dict[str, Any]) -> dict[str, Any]:
    import otter.api

    started, cpu = time.monotonic(), _cpu()
    try:
        graded = otter.api.grade_submission(answer["path"], zip_path, quiet=True)
    except Exception as exc:  # noqa: BLE001 - a failed grading, counted as such
        return {"total": None, "questions": {}, "seconds": None, "error": repr(exc)[:500]}
    seconds = time.monotonic() - started
    if graded.catastrophic_error is not None:
        error = f"otter could not grade {answer['path']}: {graded.catastrophic_error}"
        return {"total": None, "questions": {}, "seconds": None, "error": error[:500]}
    questions = {name: _number(graded.get_score(name)) for name in graded.test_files}
    return {"total": _number(graded.total), "questions": questions, "seconds": seconds,
            "cpu_s": _cpu() - cpu}  # fmt: skip


def _number(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _import_otter() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    import otter.api  # noqa: F401


def _ready(_: int) -> bool:
    return True


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # otter's own clean-up (kernel shut down, temp dir) runs


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    spec = json.loads(Path(sys.argv[1]).read_text())
    mark("import")
    import otter.api  # noqa: F401

    mark("overhead")
    trivial = [grade_one(spec["trivial_zip"], a) for a in spec["trivial_answers"]]
    workers = spec["workers"]
    with ProcessPoolExecutor(max_workers=workers, initializer=_import_otter) as pool:
        # every worker started and has imported otter before the clock
        list(pool.map(_ready, range(workers * 4)))
        mark("main")
        graded = list(pool.map(grade_one, [spec["zip"]] * len(spec["answers"]), spec["answers"]))
        mark("done")
    result({"trivial": trivial, "main": graded})
    return 0


if __name__ == "__main__":
    sys.exit(main())
