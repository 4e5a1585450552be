"""Course environments without building one: requirement checks, stamps, kernelspecs."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections import deque
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpec

from coursehub.courses import environment as envmod
from coursehub.courses.environment import (
    EnvironmentBuildError,
    RequirementsError,
    build_environment,
    check_requirements,
    expected_stamp,
    needs_rebuild,
)
from coursehub.courses.kernels import kernel_name, remove_kernelspec, write_kernelspec
from coursehub.courses.requirements import read_requirements

PYTHON = sys.executable
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
HASH = "sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "repo").mkdir()
    return tmp_path / "repo"


# --- requirement files ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "six\n",
        "# only a comment\n\n",
        "numpy>=1.24 ; python_version >= '3.9'  # trailing comment\n",
        "requests[socks]==2.31.0\n",
        f"six==1.16.0 \\\n    --hash={HASH}\n",
        "--pre\n--prefer-binary\n--only-binary :all:\n--no-binary=six\nsix\n",
        "pkg @ https://example.org/pkg-1.0-py3-none-any.whl\n",
        "git+https://github.com/example/pkg@v1#egg=pkg\n",
        "./helpers\n",
        "helpers/\n",
        "pkg @ file:helpers\n",
        "-r more.txt\n--requirement=more.txt\n-c constraints.txt\n",
        "-rmore.txt\n",
    ],
)
def test_accepted_requirement_files(repo: Path, text: str) -> None:
    (repo / "helpers").mkdir()
    write(repo / "more.txt", "toolz\n")
    write(repo / "constraints.txt", "toolz<2\n")
    check_requirements(write(repo / "requirements.txt", text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-e .\n", "-e is not allowed: editable installs"),
        ("--editable=git+https://x/y#egg=y\n", "--editable is not allowed: editable"),
        ("-i https://evil.example/simple\n", "-i is not allowed: package sources come from"),
        ("-ihttps://evil.example/simple\n", "-i is not allowed"),
        ("--index-url=https://evil.example/simple\n", "--index-url is not allowed"),
        ("--extra-index-url https://evil.example/simple\n", "--extra-index-url is not"),
        ("--trusted-host evil.example\n", "--trusted-host is not allowed"),
        ("--find-links https://evil.example/\n", "--find-links is not allowed"),
        ("-f /tmp\n", "-f is not allowed"),
        ("--no-index\n", "--no-index is not allowed"),
        ("six --index-url https://evil.example/simple\n", "--index-url is not allowed"),
        ("--global-option=--foo\n", "--global-option is not allowed in a course"),
        ("six --install-option=--prefix=/\n", "--install-option is not allowed"),
        ("pkg @ https://x/${SECRET_TOKEN}/pkg.whl\n", "pip would fill it in from the hub"),
        ("../outside\n", "points outside the course repository"),
        ("/etc\n", "points outside the course repository"),
        ("pkg @ file:///etc/pkg\n", "points outside the course repository"),
        ("file:../pkg\n", "points outside the course repository"),
        ("git+file:///srv/other#egg=x\n", "points outside the course repository"),
        ("-r ../other.txt\n", "points outside the course repository"),
        ("-r https://evil.example/req.txt\n", "include files from the repo only"),
        ("-c /etc/constraints.txt\n", "points outside the course repository"),
        ("-r missing.txt\n", "missing.txt does not exist"),
        ("--hash\n", "--hash needs a value"),
        ("six --hash='unbalanced\n", "cannot read the options"),
    ],
)
def test_refused_requirement_files(repo: Path, text: str, expected: str) -> None:
    write(repo.parent / "other.txt", "six\n")
    with pytest.raises(RequirementsError, match="requirements.txt:1: ") as info:
        check_requirements(write(repo / "requirements.txt", text))
    assert expected in str(info.value)


def test_refusal_names_the_line_and_the_nested_file(repo: Path) -> None:
    write(repo / "env" / "more.txt", "toolz\n\n--extra-index-url https://x/simple\n")
    write(repo / "env" / "requirements.txt", "six\n# comment\n-r more.txt\n")
    with pytest.raises(RequirementsError, match=r"^env/more.txt:3: --extra-index-url"):
        check_requirements(repo / "env" / "requirements.txt", root=repo)


def test_continuation_lines_report_their_first_line(repo: Path) -> None:
    text = "six\ntoolz \\\n  --trusted-host x\n"
    with pytest.raises(RequirementsError, match=r"requirements.txt:2: --trusted-host"):
        check_requirements(write(repo / "requirements.txt", text))


def test_symlink_out_of_the_repo_is_refused(repo: Path, tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "setup.py", "")
    (repo / "pkg").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RequirementsError, match="outside the course repository"):
        check_requirements(write(repo / "requirements.txt", "./pkg\n"))
    (repo / "inc.txt").symlink_to(tmp_path / "elsewhere" / "setup.py")
    with pytest.raises(RequirementsError, match="outside the course repository"):
        check_requirements(write(repo / "requirements.txt", "-r inc.txt\n"))


def test_root_allows_paths_above_the_file_but_inside_the_repo(repo: Path) -> None:
    write(repo / "common.txt", "six\n")
    (repo / "pkg").mkdir()
    req = write(repo / "binder" / "requirements.txt", "-r ../common.txt\n./pkg\n")
    check_requirements(req, root=repo)
    with pytest.raises(RequirementsError, match="outside"):
        check_requirements(req)  # the default root is the file's own directory


def test_include_cycles_and_bad_encoding(repo: Path) -> None:
    write(repo / "a.txt", "-r b.txt\nsix\n")
    write(repo / "b.txt", "-r a.txt\n")
    check_requirements(repo / "a.txt")
    (repo / "bad.txt").write_bytes(b"six\n\xff\xfe\n")
    with pytest.raises(RequirementsError, match="cannot read bad.txt"):
        check_requirements(repo / "bad.txt")


# --- stamps and needs_rebuild ---------------------------------------------------------


def fake_env(env_dir: Path, stamp: dict[str, object]) -> None:
    """What needs_rebuild looks at: bin/python and the stamp."""
    write(env_dir / "bin" / "python", "#!/bin/sh\n").chmod(0o755)
    write(env_dir / envmod.STAMP_NAME, json.dumps(stamp))


def test_stamp_content(repo: Path) -> None:
    req = write(repo / "requirements.txt", "six\n")
    stamp = expected_stamp(req, PYTHON)
    assert stamp["python"] == os.path.realpath(sys._base_executable)  # the base, not a venv
    assert stamp["python_version"] == VERSION
    assert stamp["ipykernel"] == envmod.IPYKERNEL_REQUIREMENT
    assert len(str(stamp["requirements_sha256"])) == 64
    assert expected_stamp(None, PYTHON)["requirements_sha256"] != stamp["requirements_sha256"]


def test_needs_rebuild_follows_every_input(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    req = write(repo / "requirements.txt", "six\n-r more.txt\n./dist/pkg-1.0-py3-none-any.whl\n")
    write(repo / "more.txt", "toolz\n")
    write(repo / "dist" / "pkg-1.0-py3-none-any.whl", "wheel v1")
    env_dir = tmp_path / "env"
    assert needs_rebuild(req, env_dir, PYTHON)  # nothing there yet
    fake_env(env_dir, expected_stamp(req, PYTHON))
    assert not needs_rebuild(req, env_dir, PYTHON)

    write(repo / "more.txt", "toolz==1.0\n")  # an included file changed
    assert needs_rebuild(req, env_dir, PYTHON)
    fake_env(env_dir, expected_stamp(req, PYTHON))
    write(repo / "dist" / "pkg-1.0-py3-none-any.whl", "wheel v2")  # a local wheel changed
    assert needs_rebuild(req, env_dir, PYTHON)
    fake_env(env_dir, expected_stamp(req, PYTHON))
    req.write_text(req.read_text() + "# a comment still counts\n")
    assert needs_rebuild(req, env_dir, PYTHON)
    fake_env(env_dir, expected_stamp(req, PYTHON))
    assert not needs_rebuild(req, env_dir, PYTHON)

    monkeypatch.setattr(envmod, "IPYKERNEL_REQUIREMENT", "ipykernel==6.29.5")
    assert needs_rebuild(req, env_dir, PYTHON)
    monkeypatch.undo()
    assert not needs_rebuild(req, env_dir, PYTHON)

    (env_dir / "bin" / "python").unlink()  # a damaged environment
    assert needs_rebuild(req, env_dir, PYTHON)
    fake_env(env_dir, expected_stamp(req, PYTHON))
    (env_dir / envmod.STAMP_NAME).write_text("{not json")
    assert needs_rebuild(req, env_dir, PYTHON)


def fake_python(path: Path, executable: str, version: str) -> str:
    """A stand-in interpreter that only answers coursehub's question about itself."""
    answer = json.dumps({"executable": executable, "version": version})
    write(path, f"#!/bin/sh\necho '{answer}'\n").chmod(0o755)
    return str(path)


def test_needs_rebuild_when_the_interpreter_changes(repo: Path, tmp_path: Path) -> None:
    req = write(repo / "requirements.txt", "six\n")
    env_dir = tmp_path / "env"
    fake_env(env_dir, expected_stamp(req, PYTHON))
    real = os.path.realpath(sys._base_executable)
    same = fake_python(tmp_path / "same", real, VERSION)
    assert not needs_rebuild(req, env_dir, same)
    assert needs_rebuild(req, env_dir, fake_python(tmp_path / "newer", real, "3.99"))
    other = fake_python(tmp_path / "other", "/opt/python/bin/python3", "3.11")
    assert needs_rebuild(req, env_dir, other)


def test_bad_interpreters_are_refused_before_building(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    hidden = fake_python(private / "python3", str(private / "python3"), "3.11")
    with pytest.raises(EnvironmentBuildError, match="cannot be run by student accounts"):
        build_environment("c", None, tmp_path / "env", python=hidden)
    with pytest.raises(EnvironmentBuildError, match="cannot run the interpreter"):
        build_environment("c", None, tmp_path / "env", python=str(tmp_path / "nope"))
    assert not (tmp_path / "env").exists()


def test_a_refused_file_builds_nothing(repo: Path, tmp_path: Path) -> None:
    req = write(repo / "requirements.txt", "-e .\n")
    with pytest.raises(RequirementsError):
        build_environment("c", req, tmp_path / "envs" / "c")
    assert not (tmp_path / "envs").exists()


def test_cleanup_touches_only_its_own_generations(tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    for name in ["demo.0123456789ab", "demo.ba9876543210", "demo.backup", "demo2.0123456789ab"]:
        (envs / name).mkdir(parents=True)
    (envs / "demo").symlink_to("demo.0123456789ab")
    envmod._remove_stale(envs / "demo")  # what a build does first, under the lock
    assert sorted(p.name for p in envs.iterdir()) == [
        "demo",
        "demo.0123456789ab",
        "demo.backup",
        "demo2.0123456789ab",
    ]
    envmod.remove_environment(envs / "demo")
    assert sorted(p.name for p in envs.iterdir()) == [
        ".demo.lock",
        "demo.backup",
        "demo2.0123456789ab",
    ]
    envmod.remove_environment(envs / "demo")  # idempotent


# --- running pip ----------------------------------------------------------------------


def test_output_is_streamed_with_bounded_memory(tmp_path: Path) -> None:
    seen: list[str] = []
    tail: deque[str] = deque(maxlen=envmod.TAIL_LINES)
    code = "import sys\nfor i in range(1000): print(i)\nprint('x' * 100000)\nsys.exit(3)"
    deadline = time.monotonic() + 60
    rc = envmod._run(
        [PYTHON, "-c", code], cwd=tmp_path, log=seen.append, deadline=deadline, tail=tail
    )
    assert rc == 3
    assert seen[:3] == ["0", "1", "2"]
    assert max(len(line) for line in seen) <= envmod.MAX_LINE_BYTES
    assert len(tail) == envmod.TAIL_LINES and tail[-1].startswith("x")


def test_the_build_environment_holds_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "secret")
    monkeypatch.setenv("PYTHONPATH", "/work/main/src")
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    env = envmod._child_env()
    assert "JUPYTERHUB_API_TOKEN" not in env and "PYTHONPATH" not in env
    assert env["PIP_TIMEOUT"] == "5" and env["PIP_NO_INPUT"] == "1"


def test_timeout_stops_the_build_and_leaves_nothing(tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    started = time.monotonic()
    with pytest.raises(EnvironmentBuildError, match="took too long"):
        build_environment("c", None, envs / "c", timeout=0.3)
    assert time.monotonic() - started < 10
    assert [p.name for p in envs.iterdir()] == [".c.lock"]  # no half-built generation


PIP_NOT_FOUND = """\
Collecting six
  Using cached six-1.17.0-py2.py3-none-any.whl
ERROR: Could not find a version that satisfies the requirement NoSuch_Pkg==9.9 (from versions: none)
ERROR: No matching distribution found for NoSuch_Pkg==9.9""".splitlines()


def test_pip_failures_are_explained(repo: Path) -> None:
    req = write(repo / "requirements.txt", "six\n# comment\nnosuch-pkg==9.9\n")
    found = read_requirements(req, None).requirements
    assert envmod._explain(PIP_NOT_FOUND, found, 1).startswith(
        "line 3 of requirements.txt: no matching distribution for NoSuch_Pkg==9.9"
    )
    assert "which a listed requirement needs" in envmod._explain(PIP_NOT_FOUND, [], 1)
    conflict = ["ERROR: Cannot install a==1 and b==2 because these package versions have "
                "conflicting dependencies.", "ERROR: ResolutionImpossible: ..."]  # fmt: skip
    assert "conflict" in envmod._explain(conflict, found, 1)
    assert "Cannot install a==1" in envmod._explain(conflict, found, 1)
    wheel = ["  ERROR: Failed building wheel for lxml", "ERROR: Could not build wheels"]
    assert "lxml could not be built from source" in envmod._explain(wheel, found, 1)
    assert envmod._explain(["ERROR: disk full"], found, 1) == "disk full"
    assert envmod._explain(["nothing useful"], found, 2) == "pip exited with status 2"


# --- kernelspecs ----------------------------------------------------------------------


def test_kernel_names() -> None:
    assert kernel_name("physics101") == "coursehub-physics101"
    assert kernel_name("intro_py-2") == "coursehub-intro_py-2"
    for bad in ["Physics", "a/b", "", "..", "x y", "é"]:
        with pytest.raises(ValueError):
            kernel_name(bad)


def test_write_kernelspec(tmp_path: Path) -> None:
    old_umask = os.umask(0o077)  # the spec must be readable whatever the umask
    try:
        dest = tmp_path / "share" / "jupyter" / "kernels"
        spec_dir = write_kernelspec(
            "physics", "Physics  101\n", tmp_path / "envs" / "physics", dest
        )
    finally:
        os.umask(old_umask)
    assert spec_dir == dest / "coursehub-physics"
    data = json.loads((spec_dir / "kernel.json").read_text())
    python = str(tmp_path / "envs" / "physics" / "bin" / "python")
    assert data["argv"] == [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert data["display_name"] == "Physics 101 (course)"
    assert data["language"] == "python" and data["env"] == {}
    spec = KernelSpec.from_resource_dir(str(spec_dir))
    assert spec.argv[0] == python and spec.metadata["coursehub"] == {"course": "physics"}
    assert stat.S_IMODE((spec_dir / "kernel.json").stat().st_mode) == 0o644
    assert stat.S_IMODE(spec_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert os.listdir(spec_dir) == ["kernel.json"]  # no temporary file left

    write_kernelspec("physics", "Physics II", tmp_path / "envs" / "physics", dest)  # replace
    assert (
        json.loads((spec_dir / "kernel.json").read_text())["display_name"] == "Physics II (course)"
    )
    assert remove_kernelspec("physics", dest)
    assert not spec_dir.exists()
    assert not remove_kernelspec("physics", dest)


def test_kernelspec_keeps_the_stable_env_path(tmp_path: Path) -> None:
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "c.0123456789ab").mkdir()
    (tmp_path / "envs" / "c").symlink_to("c.0123456789ab")
    spec_dir = write_kernelspec("c", "C", tmp_path / "envs" / "c", tmp_path / "kernels")
    argv = json.loads((spec_dir / "kernel.json").read_text())["argv"]
    assert argv[0] == str(tmp_path / "envs" / "c" / "bin" / "python")  # not the generation
