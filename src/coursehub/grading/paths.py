"""Where the grading feature keeps files inside the data directory.

- grading/<course>/       root only: sources with solutions, hidden tests, feedback
- released/<course>/<a>/  the student version, readable once released
- submissions/<course>/<a>/<student>/<id>/   root only, never changed after storing
- grading-work/<run>/     a sandbox's work directory while it runs (not under /tmp:
                          the sandbox gets a private /tmp)
- backups/deleted-assignments/<course>-<a>-<time>.tar.gz   root only: what a deleted
                          assignment held (sources, submissions, grades), kept
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from coursehub.grading.errors import AssignmentError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_NAME = 64
# A title is one line of the assignment lists; longer ones push the table off the page.
MAX_TITLE = 120


def check_name(name: str, what: str = "assignment") -> str:
    if isinstance(name, str) and len(name) > MAX_NAME:
        raise AssignmentError(
            f"the {what} name is {len(name)} characters long; it may have at most {MAX_NAME}: "
            "use a short name such as ps1 (the title can say more)"
        )
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise AssignmentError(
            f"{name!r} is not a valid {what} name: use up to {MAX_NAME} letters, digits, '.', "
            "'_' or '-', starting with a letter or digit"
        )
    return name


def check_title(title: str) -> str:
    """The title as stored (surrounding spaces dropped), or a clear refusal."""
    title = " ".join(title.split())  # one line: line breaks and tabs become spaces
    if len(title) > MAX_TITLE:
        raise AssignmentError(
            f"the title is {len(title)} characters long; it may have at most {MAX_TITLE}: "
            "shorten it (the assignment's page can say the rest)"
        )
    return title


@dataclass(frozen=True)
class GradingPaths:
    data_dir: Path

    def private(self, course: str) -> Path:
        return self.data_dir / "grading" / course

    def nbgrader_root(self, course: str) -> Path:
        return self.private(course) / "nbgrader"

    def otter_root(self, course: str, assignment: str) -> Path:
        return self.private(course) / "otter" / assignment

    def student_version(self, course: str, assignment: str, fmt: str) -> Path:
        """The student version as the format made it (private until released)."""
        if fmt == "nbgrader":
            return self.nbgrader_root(course) / "release" / assignment
        return self.otter_root(course, assignment) / "release"

    def released(self, course: str, assignment: str) -> Path:
        return self.data_dir / "released" / course / assignment

    def submission(self, course: str, assignment: str, username: str, sid: int) -> Path:
        return self.data_dir / "submissions" / course / assignment / username / str(sid)

    def staging(self) -> Path:
        return self.data_dir / "submissions" / ".staging"

    def feedback(self, course: str, sid: int) -> Path:
        return self.private(course) / "feedback" / str(sid)

    def work(self, run: str) -> Path:
        return self.data_dir / "grading-work" / run

    def deleted_backups(self) -> Path:
        """Where deleting an assignment keeps what it held (grading/archive.py)."""
        return self.data_dir / "backups" / "deleted-assignments"


def ensure_private(path: Path) -> Path:
    """Make `path` (and missing parents) readable by root only."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
