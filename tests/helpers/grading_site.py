"""A running hub for grading tests: one course from a one-notebook git repository,
its students and staff enrolled, and the site's data outside /tmp (each grading
sandbox gets a private /tmp of its own, which would hide it)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat

from tests.helpers import hubproc
from tests.helpers.gitrepo import commit_all


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
    repo = Path(f"/tmp/coursehub-test-repo-{secrets.token_hex(4)}")
    repo.mkdir()
    (repo / "intro.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    commit_all(repo, "first")
    base = Path(f"/srv/coursehub-test-{label}-{secrets.token_hex(4)}")
    base.mkdir(mode=0o711)
    roles = {name: "instructor" for name, role in staff.items() if role == "instructor"}
    site = hubproc.write_site(
        base, users=users, roles=roles, data_dir=base / "data", extra_yaml=extra_yaml
    )
    students = [name for name in users if name not in staff]
    try:
        hubproc.start(site)
        steps = [
            ("course", "add", course, "--repo", str(repo)),
            ("course", "enrol", course, *students),
        ]
        steps += [("course", "enrol", course, name, "--role", role) for name, role in staff.items()]
        for args in steps:
            done = site.cli(*args)
            assert done.returncode == 0, done.stdout + done.stderr
        yield site
    finally:
        hubproc.stop(site)
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
