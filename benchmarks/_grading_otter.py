"""The otter baseline of the grading benchmark, run as its own process:
``python _grading_otter.py SPEC.json``.

Grades each answer with otter's own non-containerized grader (``otter.api.
grade_submission``, what ``otter run`` calls), one after the other, against the
autograder zip ``otter assign`` made. otter is imported once for the whole run, so
its import (about 4 s here) is paid once, not per submission as ``otter run`` would.
Phases (marks on stdout): ``import``, ``overhead`` (the trivial answers), ``main``,
``done``; then the results.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from _grading_measure import mark, result


def grade_all(api: Any, zip_path: str, answers: list[dict]) -> list[dict[str, Any]]:
    out = []
    for a in answers:
        started = time.monotonic()
        graded = api.grade_submission(a["path"], zip_path, quiet=True)
        seconds = time.monotonic() - started
        if graded.catastrophic_error is not None:
            raise RuntimeError(f"otter could not grade {a['path']}: {graded.catastrophic_error}")
        questions = {name: _number(graded.get_score(name)) for name in graded.test_files}
        out.append({"total": _number(graded.total), "questions": questions, "seconds": seconds})
    return out


def _number(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # otter's own clean-up (kernel shut down, temp dir) runs


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    spec = json.loads(Path(sys.argv[1]).read_text())
    mark("import")
    import otter.api

    mark("overhead")
    trivial = grade_all(otter.api, spec["trivial_zip"], spec["trivial_answers"])
    mark("main")
    graded = grade_all(otter.api, spec["zip"], spec["answers"])
    mark("done")
    result({"trivial": trivial, "main": graded})
    return 0


if __name__ == "__main__":
    sys.exit(main())
