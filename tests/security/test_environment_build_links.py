"""An instructor's package code, run by pip as the build account, plants links in the
environment it builds; root then writes its own files in that environment.

courses/environment.py builds a course environment as an unprivileged build account
(run_as), takes the tree back for root (`_take_back`: links are chowned, not removed),
and only then writes `coursehub-not-installed.json` (environment.yml's conda packages
pip could not install, as the instructor wrote them) and `coursehub-environment.json`
(the stamp), with `Path.write_text` and `chmod`, which follow a link. A link planted at
either name by a course's setup.py leads root's write (and chmod 0644) anywhere:
`/etc/profile.d/x.sh` holding `$(...)` from a conda entry runs at root's next login.

The build's pip is a stand-in (a shell script acting as the venv's python), so no
package index is needed; the build account, its uid switch, the take-back and root's
writes are real.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursehub.courses.environment import (
    NOT_INSTALLED_NAME,
    STAMP_NAME,
    build_environment,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root and a build account")

# The venv's "python": pip planting links (as a package's setup.py would), then the
# ipykernel import check passing.
VENV_PYTHON = """#!/bin/sh
gen="$(dirname "$(dirname "$0")")"
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  ln -sfn "{target_stamp}" "$gen/{stamp}"
  ln -sfn "{target_missing}" "$gen/{missing}"
fi
exit 0
"""
# The base interpreter: answers coursehub's question about itself, makes the "venv".
BASE_PYTHON = """#!/bin/sh
if [ "$1" = "-I" ]; then echo '{answer}'; exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin" && cp "{venv_python}" "$3/bin/python" && chmod 755 "$3/bin/python"
  exit $?
fi
exit 1
"""


@pytest.fixture
def build_account() -> Iterator[str]:
    account = f"chrv{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", account],
        check=True,
        capture_output=True,
    )
    try:
        yield account
    finally:
        subprocess.run(["userdel", account], capture_output=True)


@pytest.fixture
def site() -> Iterator[Path]:
    top = Path(tempfile.mkdtemp(prefix="coursehub-review-"))
    top.chmod(0o755)  # the build account and students reach the environment folder
    try:
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_links_planted_by_the_build_never_lead_roots_writes_out(
    site: Path, build_account: str
) -> None:
    private = site / "root-only"
    private.mkdir(mode=0o700)  # stands for /etc/profile.d, /root, ...
    target_stamp, target_missing = private / "stamp.sh", private / "profile.sh"
    tools = site / "tools"
    tools.mkdir(mode=0o755)
    venv_python = tools / "venv-python"
    venv_python.write_text(
        VENV_PYTHON.format(
            target_stamp=target_stamp,
            target_missing=target_missing,
            stamp=STAMP_NAME,
            missing=NOT_INSTALLED_NAME,
        )
    )
    venv_python.chmod(0o755)
    base = tools / "python3"
    answer = json.dumps({"executable": str(base), "version": "3.12"})
    base.write_text(BASE_PYTHON.format(answer=answer, venv_python=venv_python))
    base.chmod(0o755)
    repo = site / "repo"
    repo.mkdir(mode=0o755)
    # a conda package with no PyPI counterpart is written to the not-installed file as is
    (repo / "environment.yml").write_text(
        "dependencies:\n  - r-base $(touch /tmp/owned-by-root)\n  - pip:\n    - six\n"
    )
    (repo / "environment.yml").chmod(0o644)
    env_dir = site / "courses" / "c" / "env"
    env_dir.parent.mkdir(parents=True, mode=0o755)
    os.chmod(site / "courses", 0o755)
    try:
        build_environment(
            "c", repo / "environment.yml", env_dir, python=str(base), root=repo,
            run_as=build_account, timeout=120,
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - a refusal is fine; what was written counts
        print(f"build refused: {exc}", file=sys.stderr)
    written = {p.name: p.read_text() for p in (target_stamp, target_missing) if p.exists()}
    assert written == {}, f"root wrote outside the environment: {written}"
