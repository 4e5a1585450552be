"""The course both hubs serve: a real git repository with a few notebooks.

It is served read-only by ``git daemon`` on a random loopback port, as a course
on a git host would be. A plain path would not do: students' servers run as
their own accounts, and git (2.35.2 and later) refuses to read a repository
owned by somebody else unless ``safe.directory`` says so, which would mean
changing the baseline's configuration. The daemon drops to ``nobody``, who owns
the repository, so every clone (coursehub's as root, nbgitpuller's as each
student) reads it the same way.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from _storm.procs import (
    TargetError,
    free_ports,
    run_checked,
    sigint_deferred,
    start_logged,
    stop_tree,
)

NAME = "storm-course"  # the repository's name: also nbgitpuller's checkout folder
BRANCH = "main"
LINKED = "notebooks/01-intro.ipynb"  # the notebook every student opens
SERVE_TIMEOUT = 30
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Course staff",
    "GIT_AUTHOR_EMAIL": "staff@example.org",
    "GIT_COMMITTER_NAME": "Course staff",
    "GIT_COMMITTER_EMAIL": "staff@example.org",
}


@dataclass(frozen=True)
class ServedCourse:
    url: str  # git://127.0.0.1:<port>/storm-course
    name: str
    branch: str
    notebook: str  # path of the linked notebook inside the repository


def _notebook(title: str, topic: str, cells: int) -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})  # fmt: skip
    nb.cells.append(new_markdown_cell(f"# {title}\n\nThis week: {topic}. Run each cell in turn."))
    for i in range(1, cells + 1):
        nb.cells.append(new_markdown_cell(f"## Step {i}\n\nRead the code, predict, then run it."))
        nb.cells.append(new_code_cell(f"values = [x ** {i} for x in range(10)]\nsum(values)"))
    return nb


def write_course(repo: Path) -> None:
    """A small course: three notebooks, a data file, a manifest; one commit on main."""
    (repo / "notebooks").mkdir(parents=True)
    (repo / "data").mkdir()
    for path, title, topic in (
        (LINKED, "Introduction", "variables and lists"),
        ("notebooks/02-data.ipynb", "Data", "reading a CSV file"),
        ("notebooks/03-functions.ipynb", "Functions", "writing your own"),
    ):
        nbformat.write(_notebook(title, topic, cells=8), repo / path)
    (repo / "data" / "cities.csv").write_text(
        "city,population\nLyon,522969\nNantes,320732\nLille,236234\n"
    )
    (repo / "course.yaml").write_text(
        "title: Storm course\nmappings:\n  - data -> data\n"  # coursehub reads it, git ignores it
    )
    (repo / "README.md").write_text("# Storm course\n\nNotebooks for the link storm.\n")
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", BRANCH], ["add", "."], ["commit", "-q", "-m", "Week 1"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@contextmanager
def served_course(
    label: str,
    writer: Callable[[Path], None] = write_course,
    name: str = NAME,
    notebook: str = LINKED,
) -> Iterator[ServedCourse]:
    """Write the course (``writer(repo)``: files and one commit on ``main``) and serve
    it with ``git daemon`` until the block ends."""
    if shutil.which("git") is None:
        raise TargetError("git is not installed")
    tmp = Path(tempfile.mkdtemp(prefix=f"{label}-course-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        tmp.chmod(0o755)
        repo = tmp / "repos" / name
        writer(repo)
        nobody = pwd.getpwnam("nobody")
        group = grp.getgrgid(nobody.pw_gid).gr_name
        for path in [repo, *repo.rglob("*")]:
            os.lchown(path, nobody.pw_uid, nobody.pw_gid)
        (port,) = free_ports(1)
        argv = ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                "--export-all", f"--base-path={tmp / 'repos'}", "--user=nobody",
                f"--group={group}", str(tmp / "repos")]  # fmt: skip
        # HOME: once it is nobody, the daemon must not look for root's git config
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp)}
        proc = start_logged(argv, cwd=tmp, log=tmp / "git-daemon.log", env=env)
        url = f"git://127.0.0.1:{port}/{name}"
        _wait_served(url, proc, tmp / "git-daemon.log")
        yield ServedCourse(url, name, BRANCH, notebook)
    finally:
        with sigint_deferred():
            stop_tree(proc, [(signal.SIGTERM, 5)])
            shutil.rmtree(tmp, ignore_errors=True)


def _wait_served(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    end = time.monotonic() + SERVE_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise TargetError(f"git daemon exited {proc.returncode}: {log.read_text()[-500:]}")
        try:
            run_checked(["git", "ls-remote", url], timeout=10)
            return
        except TargetError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)
