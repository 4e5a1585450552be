"""The grading sandbox against hostile code, for real: throwaway accounts, namespaces
and limits on this machine (root needed). After each attack an honest run still works
and nothing of the attacker is left."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursehub.grading import sandbox
from coursehub.grading.sandbox import ACCOUNT_PREFIX, SandboxLimits, run_sandboxed

pytestmark = [pytest.mark.root]
if os.geteuid() != 0:
    pytest.skip("the grading sandbox needs root (throwaway accounts)", allow_module_level=True)

PYTHON = "/usr/bin/python3"
FAST = SandboxLimits(
    cpu_seconds=3, memory=512 * 1024**2, processes=20, wall_seconds=15, file_size=1024**2
)


@pytest.fixture
def work() -> Iterator[Path]:
    # Not under /tmp: the sandbox gets a private, empty /tmp of its own.
    base = Path(f"/srv/coursehub-test-sandbox-{secrets.token_hex(4)}")
    base.mkdir(parents=True, mode=0o711)
    os.chmod(base, 0o711)
    work = base / "work"
    work.mkdir()
    yield work
    shutil.rmtree(base, ignore_errors=True)


def _run(work: Path, code: str, limits: SandboxLimits = FAST):  # noqa: ANN202
    return run_sandboxed([PYTHON, "-c", code], work, limits)


def _no_sandbox_accounts_left() -> bool:
    """None of the accounts this test process made is left (other test processes
    may be grading at the same time, with accounts of their own)."""
    mine = set(sandbox.recent_accounts)
    assert mine and all(name.startswith(ACCOUNT_PREFIX) for name in mine)
    return not any(e.pw_name in mine for e in pwd.getpwall())


def _honest_run_works(work: Path) -> None:
    result = _run(work, "open('answer.txt', 'w').write('42'); print('fine')")
    assert result.outcome == "ok", result
    assert result.stdout.strip() == b"fine"
    assert (work / "answer.txt").read_text() == "42"
    assert (work / "answer.txt").stat().st_uid == 0  # handed back to root afterwards
    assert _no_sandbox_accounts_left()


def test_an_honest_run_gets_its_output_and_files(work: Path) -> None:
    _honest_run_works(work)
    result = _run(work, "import os; print(os.getuid(), os.getgroups())")
    uid, groups = result.stdout.decode().split(" ", 1)
    assert int(uid) > 0 and groups.strip() == "[]"


def test_the_usual_devices_and_files_are_there(work: Path) -> None:
    code = (
        "import os, pwd, tempfile\n"
        "assert open('/dev/null').read() == '' and len(open('/dev/urandom', 'rb').read(4)) == 4\n"
        "open('/dev/null', 'w').write('x')\n"
        "with tempfile.NamedTemporaryFile() as f:\n"
        "    f.write(b'x')\n"
        "print(pwd.getpwuid(os.getuid()).pw_name, os.getcwd() == os.environ['HOME'])"
    )
    result = _run(work, code)
    assert result.outcome == "ok", result
    name, at_home = result.stdout.split()
    assert name.startswith(ACCOUNT_PREFIX.encode()) and at_home == b"True"
    _honest_run_works(work)


def test_an_infinite_loop_stops_at_the_cpu_limit(work: Path) -> None:
    result = _run(work, "while True: pass")
    assert result.outcome == "stopped at the CPU-time limit", result
    assert result.wall_seconds < FAST.wall_seconds
    _honest_run_works(work)


def test_sleeping_forever_stops_at_the_wall_limit(work: Path) -> None:
    limits = SandboxLimits(wall_seconds=2)
    result = _run(work, "import time; time.sleep(600)", limits)
    assert result.timed_out and result.outcome == "stopped at the wall-time limit"
    _honest_run_works(work)


def test_a_fork_bomb_is_contained_and_cleared(work: Path) -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = _run(work, code, SandboxLimits(processes=20, wall_seconds=3, cpu_seconds=5))
    assert result.timed_out or result.returncode != 0
    _honest_run_works(work)


def test_allocating_10_gb_fails_inside(work: Path) -> None:
    result = _run(work, "b = bytearray(10 * 1024**3)")
    assert result.returncode == 1 and b"MemoryError" in result.stderr
    _honest_run_works(work)


def test_there_is_no_network(work: Path) -> None:
    code = (
        "import socket\n"
        "s = socket.socket(); s.settimeout(3)\n"
        "print(s.connect_ex(('127.0.0.1', 5432)), s.connect_ex(('1.1.1.1', 80)))"
    )
    result = _run(work, code)
    codes = [int(c) for c in result.stdout.split()]
    assert all(c != 0 for c in codes), result  # unreachable: no interface is up
    _honest_run_works(work)


def test_writes_outside_the_work_directory_go_nowhere(work: Path) -> None:
    marker = f"coursehub-escape-{secrets.token_hex(4)}"
    code = (
        f"open('/tmp/{marker}', 'w').write('x')\n"
        f"open('/dev/shm/{marker}', 'w').write('x')\n"
        # read-only in the box (EROFS), and root's anyway (EACCES)
        "try:\n    open('/etc/coursehub-escape', 'w')\nexcept OSError:\n    print('denied')"
    )
    result = _run(work, code)
    assert result.outcome == "ok" and b"denied" in result.stdout, result
    assert not Path(f"/tmp/{marker}").exists() and not Path(f"/dev/shm/{marker}").exists()
    assert not Path("/etc/coursehub-escape").exists()
    _honest_run_works(work)


def test_other_peoples_files_cannot_be_read(work: Path) -> None:
    secret_dir = work.parent / "hidden-tests"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "tests.py").write_text("assert answer == 42")
    result = _run(work, f"print(open('{secret_dir}/tests.py').read())")
    # the box does not even show the host's folders beside the work directory
    denied = (b"PermissionError", b"FileNotFoundError")
    assert result.returncode == 1 and any(e in result.stderr for e in denied), result
    _honest_run_works(work)


def test_a_process_left_behind_is_killed(work: Path) -> None:
    code = "import os, time\nif os.fork() == 0:\n    os.setsid(); time.sleep(600)\nprint('bye')"
    result = _run(work, code)
    assert result.outcome == "ok" and result.killed_leftovers >= 1
    _honest_run_works(work)


def test_huge_files_and_output_are_cut(work: Path) -> None:
    code = (
        "import sys\n"
        "try:\n    open('big', 'wb').write(b'x' * 50 * 1024**2)\n"
        "except OSError as e:\n    print('big:', e.errno, file=sys.stderr)\n"
        "sys.stdout.write('y' * 5 * 1024**2)"
    )
    result = _run(work, code)
    assert (work / "big").stat().st_size <= FAST.file_size
    assert len(result.stdout) <= FAST.file_size + 100
    assert b"big: 27" in result.stderr  # EFBIG
    _honest_run_works(work)


def test_exit_tricks_are_just_exit_codes(work: Path) -> None:
    assert _run(work, "import sys; sys.exit(0)").outcome == "ok"
    assert _run(work, "import os; os._exit(3)").outcome == "exit status 3"
    assert _run(work, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)").outcome == (
        "killed by SIGKILL"
    )
    _honest_run_works(work)
