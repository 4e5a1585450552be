"""A running hub for grading tests: one course from a one-notebook git repository,
its students and staff enrolled, and the site's data outside /tmp (each grading
sandbox gets a private /tmp of its own, which would hide it)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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
    later: Callable[[Callable[[], None]], None] | None = None,
) -> Iterator[hubproc.RunningHub]:
    """`users`: name -> password; `staff`: name -> course role (instructor or ta);
    everyone else in `users` is enrolled as a student. Stopped and removed afterwards,
    by `later` when given (the integration tests' background clean-up: a grading hub
    takes seconds to stop, which the next module need not wait for)."""
    base = Path(f"/srv/coursehub-test-{label}-{secrets.token_hex(4)}")  # see outside_tmp
    base.mkdir(mode=0o711)
    hub: hubproc.RunningHub | None = None

    def finish() -> None:
        if hub is not None:
            hubproc.stop(hub)
        shutil.rmtree(base, ignore_errors=True)

    try:
        notebook = nbformat.writes(nbformat.v4.new_notebook())
        repo = make_repo(base / "repo", {"intro.ipynb": notebook})
        students = [name for name in users if name not in staff]
        hub = hubproc.write_site(
            base,
            users=users,
            roles={name: "instructor" for name, role in staff.items() if role == "instructor"},
            data_dir=base / "data",
            extra_yaml=extra_yaml,
        )
        hubproc.start(hub)
        hubproc.set_up(hub, {course: hubproc.Course(repo, students, staff)})
        yield hub
    finally:
        if later is None:
            finish()
        else:
            later(finish)
