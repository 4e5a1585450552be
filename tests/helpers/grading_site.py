"""A running hub for grading tests: one course from a one-notebook git repository,
its students and staff enrolled, and the site's data outside /tmp (each grading
sandbox gets a private /tmp of its own, which would hide it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import nbformat

from tests.helpers import hubproc
from tests.helpers.gitrepo import make_repo


@contextmanager
def grading_site(
    label: str,
    course: str,
    users: dict[str, str],
    staff: dict[str, str],
    extra_yaml: str = "",
) -> Iterator[hubproc.RunningHub]:
    """`users`: name -> password; `staff`: name -> course role (instructor or ta);
    everyone else in `users` is enrolled as a student. Stopped and removed afterwards."""
    with hubproc.outside_tmp(label) as base:
        notebook = nbformat.writes(nbformat.v4.new_notebook())
        repo = make_repo(base / "repo", {"intro.ipynb": notebook})
        students = [name for name in users if name not in staff]
        with hubproc.running(
            base,
            users=users,
            roles={name: "instructor" for name, role in staff.items() if role == "instructor"},
            data_dir=base / "data",
            extra_yaml=extra_yaml,
            courses={course: hubproc.Course(repo, students, staff)},
        ) as site:
            yield site
