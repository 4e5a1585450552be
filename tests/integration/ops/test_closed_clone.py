"""A checkout in a folder closed to other accounts (root's 0700 home, `mktemp -d`).

`./dev` decides where the environment and the demo go from whether student accounts
can read the checkout: the test copies the two files that decision reads (`dev` and
`pyproject.toml`, as they are in this working tree) into a fresh `mktemp -d` folder
and asks `./dev where`, so no environment is rebuilt. The demo site is then written
where `./dev demo` would write it, with this test run's own coursehub, and checked as
a student account sees it; the same site written inside the closed folder gets a
warning and a build that stops at once, saying which folder and how to fix it. CI's
entry point, .ci/run, is run with a stand-in ./dev that reports where it was run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursehub.config.layout import DataLayout
from coursehub.ops.doctor_reach import data_dir_reach_check
from tests.helpers.gitrepo import commit_all, make_repo, run_git

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: student accounts are others"),
]

CHECKOUT = Path(__file__).resolve().parents[3]
TIMEOUT = 120  # per command: none of them builds anything


def run(*cmd: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd
    )


def coursehub(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "coursehub.cli", *args)


def as_nobody(*cmd: str | Path) -> bool:
    return run("runuser", "-u", "nobody", "--", *cmd).returncode == 0


def where(checkout: Path) -> dict[str, Path]:
    done = run(checkout / "dev", "where", cwd=checkout)
    assert done.returncode == 0, done.stderr
    return {
        key: Path(value) for key, value in (line.split(" ", 1) for line in done.stdout.splitlines())
    }


def init_demo(directory: Path) -> Path:
    """The first steps of `./dev demo`, short of importing its accounts and building."""
    done = coursehub("init", directory, "--port", "8000")
    assert done.returncode == 0, done.stdout + done.stderr
    config = directory / "coursehub.yaml"
    done = coursehub(
        "--config", config, "course", "add", "demo", "--repo", directory / "demo-course"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return config


@pytest.fixture
def closed_checkout() -> Iterator[Path]:
    closed = Path(tempfile.mkdtemp(prefix="coursehub-clone-"))  # 0700, as `mktemp -d` makes
    checkout = closed / "coursehub"
    checkout.mkdir()
    for name in ("dev", "pyproject.toml"):
        shutil.copy2(CHECKOUT / name, checkout / name)
    try:
        yield checkout
    finally:
        run(checkout / "dev", "clean", cwd=checkout)  # what it placed outside
        shutil.rmtree(closed, ignore_errors=True)


def test_the_demo_and_environment_go_where_students_reach_them(closed_checkout: Path) -> None:
    assert stat_mode(closed_checkout.parent) == 0o700
    assert not as_nobody("test", "-r", closed_checkout / "pyproject.toml")
    places = where(closed_checkout)
    for what in ("venv", "demo"):
        assert not places[what].is_relative_to(closed_checkout.parent), places
    assert places["venv"].parent == places["demo"].parent  # one folder per checkout

    config = init_demo(places["demo"])
    layout = DataLayout(places["demo"] / "coursehub-data")
    # what students open: the course's files and environment folder, under the data dir
    course = layout.course_dir("demo")
    assert as_nobody("test", "-x", course)
    assert as_nobody("test", "-x", course / "repo")
    assert as_nobody("test", "-r", course / "repo" / "course.yaml")
    done = coursehub("--config", config, "config", "check")
    assert done.returncode == 0 and "not reachable" not in done.stdout, done.stdout
    assert data_dir_reach_check(layout).status == "ok"


def test_a_site_inside_the_closed_folder_says_what_to_open(closed_checkout: Path) -> None:
    closed = closed_checkout.parent
    config = init_demo(closed_checkout / "demo")
    data_dir = closed_checkout / "demo" / "coursehub-data"

    done = coursehub("--config", config, "config", "check")
    report = " ".join(done.stdout.split())  # as printed, whatever the wrapping
    assert done.returncode == 0
    assert f"{data_dir} is not reachable by student accounts" in report, report
    assert f"chmod o+x {closed}" in report

    check = data_dir_reach_check(DataLayout(data_dir))
    assert check.status == "warn" and str(closed) in check.detail
    assert "site.data_dir" in check.fix and f"chmod o+x {closed}" in check.fix

    # The build stops before pip with the cause, not a missing Debian package.
    done = coursehub("--config", config, "course", "build", "demo")
    message = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0
    assert "is not reachable by the account" in message and "builds course environments" in message
    assert f"chmod o+x {closed}" in message
    assert "python3-venv" not in message
    assert not list((data_dir / "courses" / "demo").glob("env*")), "nothing half-built is left"


def test_an_open_checkout_keeps_everything_inside() -> None:
    base = Path(tempfile.mkdtemp(prefix="coursehub-open-"))
    try:
        base.chmod(0o755)
        for name in ("dev", "pyproject.toml"):
            shutil.copy2(CHECKOUT / name, base / name)
        places = where(base)
        assert places == {"checkout": base, "venv": base / ".venv", "demo": base / "demo"}
    finally:
        shutil.rmtree(base, ignore_errors=True)


# Stands in for ./dev in the CI test: says where and how it was run.
STUB_DEV = """#!/usr/bin/env bash
cd "$(dirname "$0")"
case "$1" in
  test) shift
    printf '%s\\n' "$(pwd)" "$(stat -c %a ..)" "$*" "$(git rev-parse HEAD)" > "$REPORT"
    exit "${STATUS:-0}" ;;
  clean) echo cleaned >> "$REPORT" ;;
esac
"""


def test_ci_runs_the_test_command_from_a_fresh_clone_in_a_closed_folder() -> None:
    # A checkout every account can read, as a CI runner's may be: .ci/run as it is here,
    # a stand-in ./dev (the real one would run the whole suite).
    base = Path(f"/srv/coursehub-test-ci-{os.getpid()}")
    base.mkdir(mode=0o755)
    try:
        ci = (CHECKOUT / ".ci" / "run").read_text()
        repo = make_repo(base / "checkout", {".ci/run": ci, "dev": STUB_DEV, "pyproject.toml": ""})
        for name in (".ci/run", "dev"):
            (repo / name).chmod(0o755)
        commit_all(repo, "executable")
        report = base / "report"
        env = {**os.environ, "CI": "true", "REPORT": str(report)}
        done = subprocess.run(
            [repo / ".ci" / "run", "-k", "some tests"], env=env, capture_output=True, text=True,
            timeout=TIMEOUT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        where, mode, args, commit, cleaned = report.read_text().splitlines()
        assert commit == run_git(repo, "rev-parse", "HEAD")  # this checkout's commit
        assert Path(where).name == "coursehub" and not Path(where).is_relative_to(base)
        assert mode == "700" and args == "-k some tests" and cleaned == "cleaned"
        assert not Path(where).parent.exists(), "the clone is removed afterwards"

        done = subprocess.run(
            [repo / ".ci" / "run"], env={**env, "STATUS": "3"}, capture_output=True, timeout=TIMEOUT
        )
        assert done.returncode == 3, "a failing test run fails CI"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777
