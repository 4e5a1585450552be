"""The two hubs of the link storm, each with the same course repository served.

Each is a context manager yielding a ``LinkTarget``: the running hub and a way to
make one simulated student for it. The hubs themselves come from ``targets``;
only the course (and, for coursehub, adding it and enrolling the students) is new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _storm import targets
from _storm.accounts import Credentials
from _storm.browser import Browser
from _storm.course_repo import ServedCourse, served_course
from _storm.link_driver import COURSE, CoursehubLinkStudent, NbgitpullerStudent
from _storm.procs import TargetError, run_checked

LABEL = "link-storm"


@dataclass(frozen=True)
class LinkTarget:
    hub: targets.RunningHub
    course: ServedCourse
    make_student: Callable[[Credentials], Browser]


@contextmanager
def baseline(n: int, keep_logs: Path | None = None) -> Iterator[LinkTarget]:
    """Plain JupyterHub as in the login storm; nbgitpuller is enabled in the venv's
    Jupyter config, so every student server has it without changing the hub."""
    try:
        run_checked([str(targets.VENV_BIN / "python"), "-c", "import nbgitpuller"])
    except TargetError:
        raise TargetError("nbgitpuller is not installed in the venv") from None
    with (
        served_course(LABEL) as course,
        targets.baseline(n, keep_logs, kind="nlb", label=LABEL) as hub,
    ):
        yield LinkTarget(hub, course, lambda c: NbgitpullerStudent(hub.base_url, c, course))


@contextmanager
def coursehub(n: int, keep_logs: Path | None = None) -> Iterator[LinkTarget]:
    """coursehub as in the login storm, plus the course added and every student enrolled."""
    with served_course(LABEL) as course:

        def add_course(config: Path, students: list[Credentials]) -> None:
            argv = targets.cli_argv
            run_checked(argv(config, "course", "add", COURSE, "--repo", course.url,
                             "--branch", course.branch))  # fmt: skip
            names = [c.username for c in students]
            run_checked(argv(config, "course", "enrol", COURSE, *names, "--role", "student"))

        with targets.coursehub(n, keep_logs, kind="nlc", label=LABEL, before_up=add_course) as hub:
            yield LinkTarget(hub, course, lambda c: CoursehubLinkStudent(hub.base_url, c, course))
