"""Attacks from inside the grading sandbox, for real: throwaway accounts, the grader's
own kernel (``sandbox_account`` + ``SandboxKernel``, as ``grader.run_plan`` runs a
submission) or ``run_sandboxed``, a real kernel template and real host sockets.

Each test is a submission trying to reach what lies outside its run: a host Unix
socket (the kernel template forks for whoever connects), SysV shared memory (beyond
the memory limit, and kept after the run), host processes in /proc, files a later run
with the same uid would find, setuid files left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.build import env_dir
from coursehub.courses.environment import build_environment
from coursehub.courses.kernels import template_socket
from coursehub.forking.kernels.manager import KernelTemplates
from coursehub.grading.kernel_runner import SandboxKernel
from coursehub.grading.sandbox import SandboxLimits, run_sandboxed, sandbox_account
from coursehub.grading.sandbox_support import memory_cgroup_support
from coursehub.student.kernel_provisioner import template_status

pytestmark = [
    pytest.mark.root,
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="the grading sandbox needs root"),
]

PYTHON = "/usr/bin/python3"
COURSE = "sbx"
FAST = SandboxLimits(
    cpu_seconds=10, memory=512 * 1024**2, processes=20, wall_seconds=30, file_size=1024**2
)
KERNEL_LIMITS = SandboxLimits(cpu_seconds=30, memory=1024**3, processes=48, wall_seconds=90)


@pytest.fixture
def data() -> Iterator[Path]:
    """A site's data directory where a real site keeps it (under /srv, not /tmp)."""
    base = Path(f"/srv/coursehub-test-sbx-{secrets.token_hex(4)}")
    base.mkdir(mode=0o711)
    os.chmod(base, 0o711)
    (base / "grading-work").mkdir(mode=0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _work(data: Path) -> Path:
    """A fresh work directory, as the grader makes one per run."""
    work = data / "grading-work" / f"g{secrets.token_hex(3)}"
    work.mkdir(mode=0o700)
    return work


def _run(data: Path, code: str, limits: SandboxLimits = FAST):  # noqa: ANN202
    return run_sandboxed([PYTHON, "-c", code], _work(data), limits)


def _in_grading_kernel(work: Path, code: str) -> str:
    """Run `code` as one notebook cell in the grader's own sandboxed kernel; its text."""
    with sandbox_account(work, KERNEL_LIMITS) as account, SandboxKernel(account) as kernel:
        run = kernel.execute(code, timeout=60)
    texts = []
    for out in run.outputs:
        texts.append(out.get("text", ""))
        texts.extend(out.get("traceback", []))
    return "".join(texts)


# --- (a) host Unix sockets -------------------------------------------------------------


@dataclass
class TemplateSite:
    layout: DataLayout
    templates: KernelTemplates

    @property
    def socket(self) -> Path:
        return template_socket(self.layout.root, COURSE)


@pytest.fixture(scope="module")
def template_site() -> Iterator[TemplateSite]:
    """A data directory under /srv with a real course environment and its template."""
    root = Path(f"/srv/coursehub-test-sbx-kt-{secrets.token_hex(4)}")
    root.mkdir(mode=0o711)
    os.chmod(root, 0o711)
    layout = DataLayout(root)
    templates = KernelTemplates(layout, backoff=0.0)
    try:
        layout.courses.mkdir(mode=0o755)
        layout.course_dir(COURSE).mkdir(mode=0o755)
        python = os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
        build_environment(COURSE, None, env_dir(layout, COURSE), python=python)
        (root / "grading-work").mkdir(mode=0o711)
        templates.ensure([COURSE])
        site = TemplateSite(layout, templates)
        deadline = time.monotonic() + 60
        while template_status(str(site.socket)) is None:
            assert time.monotonic() < deadline, "the kernel template did not start"
            time.sleep(0.1)
        yield site
    finally:
        templates.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def test_a_submission_cannot_make_the_kernel_template_fork(template_site: TemplateSite) -> None:
    env_python = env_dir(template_site.layout, COURSE) / "bin" / "python"
    work = template_site.layout.root / "grading-work" / f"g{secrets.token_hex(3)}"
    work.mkdir(mode=0o700)
    cell = f"""
import json
from coursehub.student.kernel_provisioner import ForkUnavailable, fork_kernel, template_status
sock = {str(template_site.socket)!r}
try:
    pid = fork_kernel(sock, [{str(env_python)!r}, "-m", "ipykernel_launcher", "-f",
                             "/nonexistent/kernel.json"], {{}}, "/", [])
    print("FORKED", pid)
except ForkUnavailable as exc:
    print("REFUSED", exc)
print("STATUS", json.dumps(template_status(sock)))
"""
    text = _in_grading_kernel(work, cell)
    assert "REFUSED" in text, text  # the cell ran and its fork attempt failed
    assert "FORKED" not in text, text
    assert "STATUS null" in text, text  # not even an answer to STAT


@contextlib.contextmanager
def _listening(path: Path) -> Iterator[Path]:
    """A host service's socket anyone may connect to (mode 0666, like PostgreSQL's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o666)
    server.listen(8)
    try:
        yield path
    finally:
        server.close()
        path.unlink(missing_ok=True)


_CONNECT_ALL = """
import os, socket, stat, sys
found = set(sys.argv[1:])
for top in ("/run", "/var/run", "/srv", "/var/lib", "/home"):
    for folder, dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(folder, name)
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    found.add(path)
            except OSError:
                pass
reached = []
for path in sorted(found):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        reached.append(path)
    except OSError:
        pass
    s.close()
print("REACHED", reached)
"""


def test_no_host_unix_socket_is_reachable(data: Path) -> None:
    tag = secrets.token_hex(4)
    with (
        _listening(Path(f"/run/coursehub-test-{tag}.sock")) as in_run,
        _listening(data / "runtime" / f"hub-{tag}.sock") as in_data,
    ):
        (data / "runtime").chmod(0o711)
        known = [str(in_run), str(in_data), "/var/run/postgresql/.s.PGSQL.5432"]
        result = run_sandboxed([PYTHON, "-c", _CONNECT_ALL, *known], _work(data), FAST)
    assert result.outcome == "ok", result
    assert result.stdout.strip() == b"REACHED []", result.stdout


# --- (b) SysV shared memory -------------------------------------------------------------

_SHM = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmat.restype = ctypes.c_void_p
libc.shmdt.argtypes = [ctypes.c_void_p]
key, size, count = (int(a) for a in sys.argv[1:4])
filled = 0
for i in range(count):
    shmid = libc.shmget(key + i, size, 0o1000 | 0o600)
    if shmid < 0:
        print("shmget refused", ctypes.get_errno(), flush=True)
        break
    addr = libc.shmat(shmid, None, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        print("shmat refused", ctypes.get_errno(), flush=True)
        break
    ctypes.memset(addr, 1, size)
    libc.shmdt(addr)
    filled += size
    print("FILLED", filled, flush=True)
held = 0  # what the kernel keeps of them now, detached
for line in open("/proc/sysvipc/shm").read().splitlines()[1:]:
    fields = line.split()
    if key <= int(fields[0]) < key + count:
        held += int(fields[3])
print("HELD", held, flush=True)
"""


def _host_segments(keys: range) -> list[dict[str, int]]:
    """SysV segments of the host's IPC namespace with one of `keys`."""
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()
    head = lines[0].split()
    rows = [dict(zip(head, (int(v) for v in line.split()), strict=False)) for line in lines[1:]]
    return [r for r in rows if r["key"] in keys]


def test_shared_memory_is_bounded_and_gone_after_the_run(data: Path) -> None:
    limits = SandboxLimits(cpu_seconds=20, memory=256 * 1024**2, processes=20, wall_seconds=60)
    key = 0x5C000000 + secrets.randbelow(0xFFFF) * 16
    keys = range(key, key + 8)
    size = 48 * 1024**2  # eight of them: 384 MB, over the 256 MB limit
    try:
        result = run_sandboxed([PYTHON, "-c", _SHM, str(key), str(size), "8"], _work(data), limits)
        held = [int(line.split()[1]) for line in result.stdout.splitlines() if b"HELD" in line]
        left = _host_segments(keys)
        assert held and held[0] <= limits.memory, result
        assert left == [], f"segments left in the host after the run: {left}"
    finally:
        for row in _host_segments(keys):
            subprocess.run(["ipcrm", "-m", str(row["shmid"])], capture_output=True)


_HOGS = """
import os, sys, time
size, count = int(sys.argv[1]), int(sys.argv[2])
r, w = os.pipe()
children = []
for _ in range(count):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        block = b"x" * size  # touched: resident, not just reserved
        os.write(w, b"+")
        time.sleep(30)
        os._exit(0)
    children.append(pid)
os.close(w)
got = 0
deadline = time.monotonic() + 20
while time.monotonic() < deadline and got < count:
    if not os.read(r, 1):
        break
    got += 1
time.sleep(0.5)
# held at once: the children that filled their block and are still alive now
alive = sum(1 for pid in children if os.waitpid(pid, os.WNOHANG) == (0, 0))
print("HELD", min(got, alive) * size, "got", got, "alive", alive, flush=True)
os.killpg(0, 9)
"""


def test_several_processes_cannot_hold_more_than_the_memory_limit(data: Path) -> None:
    available, why = memory_cgroup_support()  # what `coursehub doctor` reports
    if not available:
        pytest.skip(why)
    limits = SandboxLimits(cpu_seconds=20, memory=256 * 1024**2, processes=20, wall_seconds=60)
    size = 100 * 1024**2  # each under the limit, three of them over it
    result = run_sandboxed([PYTHON, "-c", _HOGS, str(size), "3"], _work(data), limits)
    held = [int(line.split()[1]) for line in result.stdout.splitlines() if b"HELD" in line]
    assert max(held, default=0) <= limits.memory, result


# --- (c) host processes -------------------------------------------------------------------

_PROCS = """
import os
seen = []
for name in os.listdir("/proc"):
    if name.isdigit():
        try:
            seen.append(open(f"/proc/{name}/cmdline", "rb").read().replace(b"\\0", b" ").decode())
        except OSError:
            pass
print("INIT", open("/proc/1/cmdline", "rb").read().replace(b"\\0", b" ").decode())
print("SEEN", seen)
try:
    os.kill(int(os.environ["HOST_PID"]), 0)
    print("SIGNAL reached")
except ProcessLookupError:
    print("SIGNAL no such process")
except PermissionError:
    print("SIGNAL exists but not mine")
"""


def test_host_processes_are_invisible(data: Path) -> None:
    marker = f"coursehub-host-process-{secrets.token_hex(4)}"
    host = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(120)", marker])
    try:
        result = run_sandboxed(
            [PYTHON, "-c", _PROCS], _work(data), FAST, env={"HOST_PID": str(host.pid)}
        )
    finally:
        host.kill()
        host.wait()
    out = result.stdout.decode()
    assert result.outcome == "ok", result
    host_init = Path("/proc/1/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert marker not in out, out
    assert f"INIT {host_init}" not in out, out
    assert "SIGNAL no such process" in out, out


# --- (d) files for a later run, (e) setuid files ---------------------------------------------

_LEAVE = """
import json, os, shutil, sys
marker, secret = sys.argv[1], sys.argv[2]
left = []
for top in ("/run", "/var", "/tmp", "/dev/shm", "/dev/mqueue", "/home"):
    for folder, dirs, files in os.walk(top):
        path = os.path.join(folder, marker)
        try:
            with open(path, "w") as f:
                f.write(secret)
            left.append(path)
            setuid = path + "-setuid"
            shutil.copyfile("/usr/bin/true", setuid)
            os.chmod(setuid, 0o6755)
        except OSError:
            pass
with open(marker, "w") as f:  # the work directory
    f.write(secret)
shutil.copyfile("/usr/bin/true", marker + "-setuid")
os.chmod(marker + "-setuid", 0o6755)
print("UID", os.getuid())
print("LEFT", json.dumps(left))
"""

_FIND = """
import os, sys
marker = sys.argv[1]
found = []
for top in ("/run", "/var", "/tmp", "/dev/shm", "/dev/mqueue", "/home"):
    for folder, dirs, files in os.walk(top):
        if marker in files:
            path = os.path.join(folder, marker)
            try:
                found.append(open(path).read())
            except OSError as exc:
                found.append(type(exc).__name__)
print("UID", os.getuid())
print("FOUND", found)
"""


def _left_on_host(marker: str, where: list[str]) -> list[Path]:
    return [p for p in (Path(w) for w in where) if p.exists()] + [
        Path(w + "-setuid") for w in where if Path(w + "-setuid").exists()
    ]


def _setuid_files(top: Path) -> list[Path]:
    found = []
    for folder, _dirs, files in os.walk(top):
        for name in files:
            mode = os.lstat(os.path.join(folder, name)).st_mode
            if mode & (stat.S_ISUID | stat.S_ISGID):
                found.append(Path(folder, name))
    return found


def _out(result: object, key: str) -> str:
    for line in result.stdout.decode().splitlines():  # type: ignore[attr-defined]
        if line.startswith(key + " "):
            return line[len(key) + 1 :]
    raise AssertionError(f"no {key} line in {result}")


def test_a_later_run_finds_nothing_of_an_earlier_one(data: Path) -> None:
    marker, secret = f"coursehub-left-{secrets.token_hex(4)}", secrets.token_hex(8)
    first = run_sandboxed([PYTHON, "-c", _LEAVE, marker, secret], _work(data), FAST)
    where: list[str] = json.loads(_out(first, "LEFT"))
    try:
        second = run_sandboxed([PYTHON, "-c", _FIND, marker], _work(data), FAST)
        assert secret not in _out(second, "FOUND"), second
        assert _out(first, "UID") != _out(second, "UID")  # never the same account twice
        assert _left_on_host(marker, where) == []
    finally:
        for path in _left_on_host(marker, where):
            path.unlink(missing_ok=True)


def test_no_setuid_file_survives_the_run(data: Path) -> None:
    marker = f"coursehub-suid-{secrets.token_hex(4)}"
    work = _work(data)
    result = run_sandboxed([PYTHON, "-c", _LEAVE, marker, "x"], work, FAST)
    where: list[str] = json.loads(_out(result, "LEFT"))
    try:
        uid = int(_out(result, "UID"))
        assert (work / (marker + "-setuid")).exists()  # it was made, in the work directory
        survivors = _setuid_files(work) + [
            p for p in _left_on_host(marker, where) if p.stat().st_mode & stat.S_ISUID
        ]
        assert survivors == [], f"setuid files of uid {uid} after the run: {survivors}"
    finally:
        for path in _left_on_host(marker, where):
            path.unlink(missing_ok=True)
