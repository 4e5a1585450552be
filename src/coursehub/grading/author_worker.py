"""Assignment authoring as the throwaway account of a grading sandbox (never root).

    python -P -m coursehub.grading.author_worker otter SOURCE OUT

Run by coursehub.grading.authoring inside the sandbox: `otter assign` on the master
notebook in SOURCE, then the reading of the test files it made (they are Python: an
exception-format test file runs whatever the instructor put in it). Writes
OUT/result.json (the notebook's name and the tests, as JSON data) and OUT/student
(the student version). The service takes only those, as data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path


def otter(source: Path, out: Path) -> int:
    from coursehub.grading.errors import AssignmentError
    from coursehub.grading.otter_format import master_notebook, tests_of

    out.mkdir(parents=True, exist_ok=True)
    try:
        master = master_notebook(source)
    except AssignmentError as exc:
        sys.stderr.write(str(exc) + "\n")
        return 2
    bindir = str(Path(sys.executable).parent)
    done = subprocess.run(
        [sys.executable, "-m", "otter", "assign", "--no-run-tests", "--no-pdfs"]
        + [master.name, str(out / "dist")],
        cwd=source,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}"},
    )
    if done.returncode != 0:
        said = _last_error(done.stderr or done.stdout)
        sys.stderr.write(f"otter assign could not read the notebook: {said}\n")
        return 2
    try:
        tests = tests_of(out / "dist" / "autograder", master.name)
    except AssignmentError as exc:
        sys.stderr.write(str(exc) + "\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - the instructor's test files, told back to them
        sys.stderr.write(
            f"otter's test files could not be read ({type(exc).__name__}: {exc}): "
            "keep the tests in OK format (otter's default)\n"
        )
        return 2
    os.replace(out / "dist" / "student", out / "student")
    (out / "result.json").write_text(json.dumps({"notebook": master.name, "tests": tests}))
    return 0


def _last_error(output: str) -> str:
    """The exception otter ended with (its message, without the traceback before it,
    which names files of the server), or its last lines."""
    lines = output.strip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        found = re.match(r"^([\w.]+(?:Error|Exception)): ?(.*)$", lines[index])
        if found:
            kind = found.group(1).rsplit(".", 1)[-1]
            rest = [line.rstrip() for line in lines[index + 1 : index + 6]]
            return "\n".join([f"{found.group(2)} ({kind})", *rest]).strip()
    return "\n".join(lines[-4:])


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "otter":
        sys.stderr.write("usage: author_worker otter SOURCE OUT\n")
        return 64
    return otter(Path(argv[1]).absolute(), Path(argv[2]).absolute())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
