"""Real course environments: built with pip, used by another account, rebuilt, broken.

One environment is built for the module (about 20 s); the last test rebuilds it and
then fails a build on purpose, restoring the requirements file it started from.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from coursehub.courses.environment import (
    EnvironmentBuildError,
    build_environment,
    needs_rebuild,
)
from coursehub.courses.kernels import kernel_name, write_kernelspec

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="needs root to use the environment as another account"
    ),
]

# coursehub's own venv links to this; students must be able to run it.
PYTHON = os.path.realpath(sys._base_executable)
REQUIREMENTS = "six\ntoolz\n"  # toolz: not pulled in by ipykernel, so it proves -r worked
# A course package whose build records who ran it (HOME is the build cache).
PROBE_SETUP = """
import os
from setuptools import setup
with open(os.path.join(os.environ["HOME"], "built-by"), "w") as f:
    f.write(str(os.getuid()))
setup(name="coursehub-probe", version="1.0", py_modules=[])
"""


@dataclass
class Course:
    base: Path
    repo: Path
    requirements: Path
    env_dir: Path
    kernels: Path
    log: list[str]
    extra: dict = field(default_factory=dict)


def as_nobody(*cmd: str, **env: str) -> subprocess.CompletedProcess[str]:
    base_env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", "env", "-i", *_env_args(base_env | env), *cmd],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env_args(env: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in env.items()]


def generation(env_dir: Path) -> Path:
    return env_dir.resolve()


@pytest.fixture(scope="module")
def course() -> Iterator[Course]:
    # Not pytest's tmp_path: its 0700 parents would stop `nobody` before the env.
    base = Path(tempfile.mkdtemp(prefix="coursehub-env-", dir="/tmp"))
    base.chmod(0o755)
    repo = base / "repo"
    repo.mkdir()
    requirements = repo / "requirements.txt"
    requirements.write_text(REQUIREMENTS + "./probe\n")
    (repo / "probe").mkdir()
    (repo / "probe" / "setup.py").write_text(PROBE_SETUP)
    course = Course(base, repo, requirements, base / "envs" / "demo", base / "kernels", [])
    account = f"chtb{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false"]
        + ["--home-dir", "/nonexistent", account],
        check=True,
    )
    try:
        started = time.monotonic()
        result = build_environment(
            "demo",
            requirements,
            course.env_dir,
            python=PYTHON,
            log=course.log.append,
            run_as=account,
        )
        print(f"first build: {time.monotonic() - started:.1f}s")
        assert result.built and result.python == course.env_dir / "bin" / "python"
        course.extra["account"] = account
        yield course
    finally:
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run(["userdel", account], capture_output=True)


def test_pip_ran_as_the_build_account_and_root_owns_the_result(course: Course) -> None:
    entry = pwd.getpwnam(course.extra["account"])
    cache = course.env_dir.parent / ".demo.build-cache"
    # the course's own setup.py ran as the build account, never as root
    assert (cache / "built-by").read_text() == str(entry.pw_uid)
    # and the build account cannot change what students run afterwards
    for path in [generation(course.env_dir), *generation(course.env_dir).rglob("*")]:
        assert path.lstat().st_uid == 0, path
    assert not [p for p in psutil.process_iter(["uids"]) if p.info["uids"].real == entry.pw_uid]


def test_python_is_usable_by_another_account(course: Course) -> None:
    assert subprocess.run(["runuser", "-u", "nobody", "--", PYTHON, "-c", "pass"]).returncode == 0
    done = as_nobody(
        str(course.env_dir / "bin" / "python"),
        "-c",
        "import sys, six, toolz, ipykernel; print(sys.prefix)",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(course.env_dir)  # the stable path, not the generation
    # isolated: coursehub's own packages are not visible in a course environment
    done = as_nobody(str(course.env_dir / "bin" / "python"), "-c", "import jupyterhub")
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr


def test_everything_is_world_readable(course: Course) -> None:
    top = generation(course.env_dir)
    assert course.env_dir.is_symlink() and top.parent == course.env_dir.parent
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            if stat.S_ISLNK(mode):
                continue
            assert mode & 0o004, os.path.join(dirpath, name)
            if stat.S_ISDIR(mode):
                assert mode & 0o001, os.path.join(dirpath, name)


def test_build_log_was_streamed(course: Course) -> None:
    assert any(line.startswith("coursehub: running") for line in course.log)
    assert any("Successfully installed" in line and "toolz" in line for line in course.log)


def test_second_call_does_not_rebuild(course: Course) -> None:
    before = generation(course.env_dir)
    assert not needs_rebuild(course.requirements, course.env_dir, PYTHON)
    started = time.monotonic()
    result = build_environment("demo", course.requirements, course.env_dir, python=PYTHON)
    elapsed = time.monotonic() - started
    print(f"up-to-date check: {elapsed * 1000:.0f}ms")
    assert not result.built and elapsed < 2
    assert generation(course.env_dir) == before


KERNEL_CLIENT = """
import sys
from jupyter_client.manager import start_new_kernel

km, kc = start_new_kernel(kernel_name=sys.argv[1], startup_timeout=60)
try:
    out = []
    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
    code = "import os, sys, six, toolz; print(os.getuid(), sys.executable, toolz.__name__)"
    reply = kc.execute_interactive(code, output_hook=hook, timeout=60)
    print(reply["content"]["status"], "".join(out).strip())
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
"""


def test_kernelspec_starts_a_kernel_for_a_student(course: Course) -> None:
    """Like a student's server: coursehub's Python starts the course kernel by name."""
    write_kernelspec("demo", "Demo", course.env_dir, course.kernels / "share/jupyter/kernels")
    home = course.base / "home-nobody"
    home.mkdir(exist_ok=True)
    nobody = pwd.getpwnam("nobody")
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    done = as_nobody(
        sys.executable,
        "-c",
        KERNEL_CLIENT,
        kernel_name("demo"),
        HOME=str(home),
        JUPYTER_PATH=str(course.kernels / "share/jupyter"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    assert done.returncode == 0, done.stderr
    python = course.env_dir / "bin" / "python"
    assert done.stdout.split() == ["ok", str(nobody.pw_uid), str(python), "toolz"]


def test_rebuild_is_atomic_and_a_failed_build_changes_nothing(course: Course) -> None:
    env_python = str(course.env_dir / "bin" / "python")
    old = generation(course.env_dir)
    # A kernel that is running when the swap happens.
    running = subprocess.Popen(
        ["runuser", "-u", "nobody", "--", env_python, "-c",
         "import sys, six; sys.stdin.readline(); import toolz, attrs; print('still fine')"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    checked: list[str] = []

    def watch(line: str) -> None:
        # While pip installs into the new generation, servers still get the old one.
        if line.startswith("Collecting") and not checked:
            assert generation(course.env_dir) == old
            done = as_nobody(env_python, "-c", "import toolz; import attrs")
            assert "No module named 'attrs'" in done.stderr
            checked.append(line)

    try:
        course.requirements.write_text(REQUIREMENTS + "attrs\n")
        assert needs_rebuild(course.requirements, course.env_dir, PYTHON)
        started = time.monotonic()
        result = build_environment(
            "demo", course.requirements, course.env_dir, python=PYTHON, log=watch
        )
        print(f"rebuild: {time.monotonic() - started:.1f}s")
        assert result.built and checked
        new = generation(course.env_dir)
        assert new != old and not old.exists()  # swapped; the old generation removed
        done = as_nobody(env_python, "-c", "import six, toolz, attrs, ipykernel")
        assert done.returncode == 0, done.stderr
        out, err = running.communicate("\n", timeout=60)
        assert running.returncode == 0 and out.strip() == "still fine", err
        siblings = sorted(p.name for p in course.env_dir.parent.iterdir())
        assert siblings == [".demo.build-cache", ".demo.lock", "demo", new.name]

        # A requirement that does not exist: pip's message, the line, nothing changed.
        course.requirements.write_text("six\ntoolz\nnosuchpkg-coursehub-test==9.9\n")
        started = time.monotonic()
        with pytest.raises(EnvironmentBuildError) as info:
            build_environment("demo", course.requirements, course.env_dir, python=PYTHON)
        print(f"failed build: {time.monotonic() - started:.1f}s")
        message = str(info.value)
        assert (
            "line 3 of requirements.txt: no matching distribution for "
            "nosuchpkg-coursehub-test==9.9" in message
        )
        assert "ERROR: No matching distribution found for nosuchpkg-coursehub-test" in message
        assert generation(course.env_dir) == new
        assert sorted(p.name for p in course.env_dir.parent.iterdir()) == siblings
        done = as_nobody(env_python, "-c", "import six, toolz, attrs, ipykernel")
        assert done.returncode == 0, done.stderr
        assert needs_rebuild(course.requirements, course.env_dir, PYTHON)
        course.requirements.write_text(REQUIREMENTS + "attrs\n")
        assert not needs_rebuild(course.requirements, course.env_dir, PYTHON)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
        course.requirements.write_text(REQUIREMENTS + "attrs\n")
