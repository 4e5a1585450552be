"""Forked kernels: a real course environment, its real kernel template (root), real
student accounts whose stand-in servers (forked_kernel_driver.py, run as the
student) start kernels through jupyter_client and the coursehub-forked provisioner.

One environment is built for the module (about 30 s); the last test rebuilds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.build import env_dir
from coursehub.courses.environment import build_environment
from coursehub.courses.kernels import kernel_name, template_socket, write_kernelspec
from coursehub.forking.kernels.manager import (
    CLEAN_ENV_KEYS,
    KernelTemplates,
    environment_stamp,
)
from coursehub.student.kernel_provisioner import ForkUnavailable, fork_kernel, template_status

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for the template and accounts"),
]

PYTHON = os.path.realpath(sys._base_executable)
DRIVER = Path(__file__).with_name("forked_kernel_driver.py")
COURSE = "kt"
WAIT = 60.0  # how long a condition may take before the test gives up (not a threshold)


@dataclass
class Site:
    layout: DataLayout
    templates: KernelTemplates
    kernels: Path  # JUPYTER_PATH entry holding the course's kernelspec
    cold_kernels: Path  # the same spec pointing at no template
    homes: Path
    prefix: str
    driver: Path  # forked_kernel_driver.py, where every student account can read it

    @property
    def socket(self) -> Path:
        return template_socket(self.layout.root, COURSE)

    def template_pid(self) -> int:
        status = wait_for(lambda: template_status(str(self.socket)), "the template answers")
        return int(status["pid"])


def wait_for(check: Any, what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting: {what}")


def gone(pid: int) -> bool:
    """No such process, or only its zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return text[text.rindex(")") + 2] in "ZX"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    # Not pytest's tmp_path: its 0700 parents would stop the students.
    root = Path(tempfile.mkdtemp(prefix="coursehub-kt-", dir="/tmp"))
    root.chmod(0o711)
    layout = DataLayout(root)
    prefix = f"kt{secrets.token_hex(2)}"
    templates = KernelTemplates(layout, backoff=0.0)
    try:
        layout.courses.mkdir(mode=0o755)
        layout.course_dir(COURSE).mkdir(mode=0o755)
        build_environment(COURSE, None, env_dir(layout, COURSE), python=PYTHON)
        share = layout.course_dir(COURSE) / "share"
        write_kernelspec(COURSE, "Kernels", env_dir(layout, COURSE), share / "kernels")
        cold = root / "cold-share"
        write_kernelspec(
            COURSE, "Cold", env_dir(layout, COURSE), cold / "kernels", socket=root / "nothing.sock"
        )
        homes = root / "homes"
        homes.mkdir(mode=0o711)
        # a copy beside the homes: the checkout's folders may be closed to students
        driver = root / DRIVER.name
        shutil.copyfile(DRIVER, driver)
        driver.chmod(0o644)
        site = Site(layout, templates, share, cold, homes, prefix, driver)
        templates.ensure([COURSE])
        site.template_pid()
        yield site
    finally:
        templates.stop_all()
        for entry in pwd.getpwall():
            if entry.pw_name.startswith(prefix):
                subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], check=False)
                subprocess.run(["userdel", entry.pw_name], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


class Student:
    """A Unix account with a 0700 home, and its stand-in server."""

    def __init__(self, site: Site, tag: str, nofile: int | None = None):
        self.name = f"{site.prefix}{tag}"
        self.home = site.homes / self.name
        subprocess.run(
            ["useradd", "--no-create-home", "--home-dir", str(self.home), "--user-group"]
            + ["--shell", "/bin/false", self.name],
            check=True,
        )
        self.entry = pwd.getpwnam(self.name)
        self.home.mkdir(mode=0o700)
        os.chown(self.home, self.entry.pw_uid, self.entry.pw_gid)
        (self.home / "secret.txt").write_text(f"{self.name}'s work\n")
        os.chown(self.home / "secret.txt", self.entry.pw_uid, self.entry.pw_gid)
        os.chmod(self.home / "secret.txt", 0o600)
        self.site = site
        self.nofile = nofile
        self.proc: subprocess.Popen[str] | None = None

    def serve(self, kernels: Path | None = None) -> Student:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "JUPYTER_PATH": str(kernels or self.site.kernels),
            "JUPYTER_RUNTIME_DIR": str(self.home / ".runtime"),
            "STUDENT_MARK": self.name,
        }
        shell = f"ulimit -n {self.nofile}; " if self.nofile else ""
        command = shell + f"exec {sys.executable} {self.site.driver}"
        self.proc = subprocess.Popen(
            ["runuser", "-u", self.name, "--", "env", "-i"]
            + [f"{k}={v}" for k, v in env.items()]
            + ["sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(self.home),
        )
        assert self.proc.stdout is not None
        ready = json.loads(self.proc.stdout.readline())
        self.server_pid = int(ready["ready"])
        return self

    def ask(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the server of {self.name} exited"
        answer = json.loads(line)
        assert "exception" not in answer, answer.get("tb")
        return answer

    def start(self, name: str = "k") -> dict[str, Any]:
        return self.ask("start", name=name, kernel=kernel_name(COURSE), cwd=str(self.home))

    def run(self, code: str, name: str = "k") -> dict[str, Any]:
        return self.ask("run", name=name, code=code)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def students(site: Site) -> Iterator[list[Student]]:
    made: list[Student] = []

    def make(tag: str, **kw: Any) -> Student:
        student = Student(site, f"{tag}{secrets.token_hex(2)}", **kw)
        made.append(student)
        return student

    yield make  # type: ignore[misc]
    for student in made:
        student.stop()
        subprocess.run(["pkill", "-KILL", "-u", student.name], check=False)
        wait_for(lambda s=student: not _processes_of(s.entry.pw_uid), "no process left")
        subprocess.run(["userdel", student.name], capture_output=True, check=False)


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid and not gone(int(entry.name)):
                    pids.append(int(entry.name))
    return pids


PROBE = """
import json, os, resource, sys
print(json.dumps({"ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],
 "groups": sorted(os.getgroups()), "cwd": os.getcwd(), "sid": os.getsid(0) == os.getpid(),
 "mark": os.environ.get("STUDENT_MARK"), "home": os.environ.get("HOME"),
 "parent_pid": os.environ.get("JPY_PARENT_PID"), "env_keys": sorted(os.environ),
 "nofile": resource.getrlimit(resource.RLIMIT_NOFILE), "path": sys.path,
 "fds": sorted(int(f) for f in os.listdir("/proc/self/fd")), "answer": 1 + 1}))
"""


def probe(student: Student, name: str = "k") -> dict[str, Any]:
    result = student.run(PROBE, name)
    assert result["status"] == "ok", result
    return json.loads(result["stdout"])


def _fd_links(pid: int) -> list[str]:
    """What the process's descriptors point at; one closed meanwhile (the hub's
    status checks come and go on the template's socket) is skipped."""
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            continue
    return links


def test_a_forked_kernel_is_the_students_own(site: Site, students: Any) -> None:
    a = students("a", nofile=300).serve()
    kernel = a.start()
    assert kernel["forked"], "the kernel should have been forked from the template"
    assert kernel["provisioner"] == "ForkedKernelProvisioner"
    found = probe(a)
    uid, gid = a.entry.pw_uid, a.entry.pw_gid
    assert found["answer"] == 2
    assert found["ids"] == [uid, uid, gid, gid]
    assert found["groups"] == sorted(os.getgrouplist(a.name, gid))
    assert found["cwd"] == str(a.home) and found["sid"]
    assert found["mark"] == a.name and found["home"] == str(a.home)
    assert found["parent_pid"] == str(a.server_pid)  # as a cold kernel's environment says
    assert found["nofile"] == [300, 300]  # the server's limits, not the template's
    assert not any("forking/kernels" in p for p in found["path"]), found["path"]
    # its stdio and the sockets of the kernel itself; nothing of the template's
    status = os.stat(f"/proc/{kernel['pid']}")
    assert (status.st_uid, status.st_gid) == (uid, gid)
    ppid = int(Path(f"/proc/{kernel['pid']}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert ppid == site.template_pid()
    # (anon_inode links such as [eventpoll] name a kind, not one object: left out)
    template_fds = {
        link
        for link in _fd_links(site.template_pid())
        if not link.startswith(("anon_inode:", "/dev/null"))
    }
    assert any(link.startswith("socket:") for link in template_fds)
    kernel_links = set(_fd_links(kernel["pid"]))
    assert not template_fds & kernel_links
    # The kernel's environment is its server's (probed above); the template's start-up
    # block, which /proc/PID/environ of any forked process still shows, holds nothing
    # of a student's.
    template_env = Path(f"/proc/{site.template_pid()}/environ").read_bytes().split(b"\0")
    allowed = {key.encode() for key in CLEAN_ENV_KEYS}  # PATH, LANG and the like
    assert {entry.split(b"=", 1)[0] for entry in template_env if entry} <= allowed
    assert "STUDENT_MARK" in found["env_keys"]


def test_interrupt_restart_and_shutdown(site: Site, students: Any) -> None:
    a = students("a").serve()
    first = a.start()
    assert first["forked"]
    assert a.ask("interrupt", name="k") == {"status": "error", "ename": "KeyboardInterrupt"}
    assert probe(a)["answer"] == 2  # still serving after the interrupt
    second = a.ask("restart", name="k")
    assert second["forked"] and second["pid"] != first["pid"]
    wait_for(lambda: gone(first["pid"]), "the first kernel is gone after a restart")
    assert probe(a)["answer"] == 2
    pid = a.ask("shutdown", name="k")["pid"]
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), "the kernel is reaped")
    assert not _processes_of(a.entry.pw_uid)[1:]  # only the stand-in server is left


def test_one_students_kernel_cannot_reach_another(site: Site, students: Any) -> None:
    a, b = students("a").serve(), students("b").serve()
    assert a.start()["forked"] and b.start()["forked"]
    b_kernel = int(b.ask("describe", name="k")["pid"])
    template = site.template_pid()
    code = f"""
import json
out = {{}}
for path in [{str(b.home / "secret.txt")!r}, "/proc/{template}/environ", "/proc/{template}/mem",
             "/proc/{b_kernel}/environ", "/proc/{b_kernel}/mem"]:
    try:
        open(path, "rb").read(1)
        out[path] = "read"
    except PermissionError:
        out[path] = "EACCES"
print(json.dumps(out))
"""
    result = a.run(code)
    assert result["status"] == "ok", result
    assert set(json.loads(result["stdout"]).values()) == {"EACCES"}, result["stdout"]
    # ...while each reads its own
    mine = b.run(f"print(open({str(b.home / 'secret.txt')!r}).read(), end='')")
    assert mine["stdout"] == f"{b.name}'s work\n"


def test_refused_forks_and_hostile_clients_leave_the_template_serving(
    site: Site, students: Any
) -> None:
    template = site.template_pid()
    socket_path = str(site.socket)
    python = str(env_dir(site.layout, COURSE) / "bin" / "python")
    # root is never forked for, whatever it asks
    with pytest.raises(ForkUnavailable, match="root"):
        fork_kernel(socket_path, [python, "-m", "ipykernel_launcher", "-f", "/x"], {}, "/", [])
    a = students("a").serve()
    for argv in (
        ["/bin/sh", "-c", "id"],
        [python, "-c", "print(1)"],
        [python, "-m", "ipykernel_launcher", "-f"],
        ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "/tmp/x.json"],
    ):
        answer = a.ask("fork", path=socket_path, argv=argv)
        assert "error" in answer and "pid" not in answer, (argv, answer)
    hostile = [
        "XXXX",  # unknown operation
        "FO",  # half an operation, then hang up
        "FORK\xff\xff\xff\xff",  # a 4 GiB request
        "FORK\x00\x00\x00\x05{{{{{",  # not JSON
        "FORK\x00\x00\x00\x02[]",  # not an object
        'FORK\x00\x00\x00\x0e{"argv": 12}',
        "FORK\x00\x00\x01\x00{",  # truncated, then hang up
        "STATSTATSTAT",
    ]
    # A FORK is forked at once; the child takes A's identity and limits before it
    # reads the untrusted request, refuses it and exits (code 70): no kernel, and the
    # template itself parses nothing a student sent.
    before = set(a.ask("status", path=socket_path)["exited"])
    for data in hostile:
        answer = a.ask("raw", path=socket_path, data=data)
        if data.startswith("STAT"):  # one answer; the rest is not read
            assert json.loads(answer["answer"])["pid"] == template, answer
        else:
            assert '"pid"' not in answer.get("answer", ""), (data, answer)
    a.ask("raw", path=socket_path, data="FORK", fds=3)  # descriptors, then silence
    status = wait_for(
        lambda: (s := a.ask("status", path=socket_path))["children"] == 0 and s,
        "every refused child has exited",
    )
    refused = {pid: code for pid, code in status["exited"].items() if pid not in before}
    assert refused and set(refused.values()) == {70}, refused
    assert status["pid"] == template and status["threads"] == 1
    assert set(status["exited"]) <= {str(p) for p in range(1 << 22)}  # only A's own children
    assert a.start()["forked"]  # and it still forks
    assert probe(a)["answer"] == 2


def test_without_a_template_the_kernel_starts_cold(site: Site, students: Any) -> None:
    a = students("a").serve(kernels=site.cold_kernels)
    kernel = a.start()
    assert not kernel["forked"] and kernel["provisioner"] == "ForkedKernelProvisioner"
    found = probe(a)
    assert found["answer"] == 2 and found["ids"][0] == a.entry.pw_uid
    ppid = int(Path(f"/proc/{kernel['pid']}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert ppid == a.server_pid  # the server's own child
    assert a.ask("interrupt", name="k")["ename"] == "KeyboardInterrupt"


def test_the_kernel_exits_with_its_server(site: Site, students: Any) -> None:
    a = students("a").serve()
    kernel = a.start()
    assert kernel["forked"]
    assert a.proc is not None
    os.kill(a.server_pid, signal.SIGKILL)
    a.proc.wait(30)
    wait_for(lambda: gone(kernel["pid"]), "the kernel exits once its server is gone")


def test_kernels_outlive_a_killed_template_which_comes_back(site: Site, students: Any) -> None:
    a = students("a").serve()
    assert a.start()["forked"]
    old = site.template_pid()
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: gone(old), "the template is dead")
    assert probe(a)["answer"] == 2  # the running kernel does not care
    # meanwhile a new kernel starts cold...
    assert not a.start("cold")["forked"]
    assert probe(a, "cold")["answer"] == 2
    # ...until the hub's next ensure() restarts the template
    site.templates.ensure([COURSE])
    assert site.template_pid() != old
    assert a.start("again")["forked"]
    assert probe(a, "again")["answer"] == 2
    assert probe(a)["answer"] == 2


def test_a_rebuilt_environment_gets_a_new_template(site: Site, students: Any) -> None:
    before = site.template_pid()
    stamp = environment_stamp(env_dir(site.layout, COURSE))
    a = students("a").serve()
    assert a.start()["forked"]
    build_environment(COURSE, None, env_dir(site.layout, COURSE), python=PYTHON, force=True)
    assert environment_stamp(env_dir(site.layout, COURSE)) != stamp
    # the old template refuses to fork from the environment that is gone
    assert not a.start("meanwhile")["forked"]
    site.templates.ensure([COURSE])
    wait_for(lambda: gone(before), "the old template has stopped")
    status = wait_for(lambda: template_status(str(site.socket)), "the new template answers")
    assert status["pid"] != before
    assert status["env_stamp"] == environment_stamp(env_dir(site.layout, COURSE))
    row = site.templates.status()[0]
    assert row["running"] and row["current"] and row["answering"]
    assert a.start("new")["forked"]
    assert probe(a, "new")["answer"] == 2


def test_doctor_reports_the_running_template(site: Site, students: Any) -> None:
    from coursehub.config.loader import load_config_text
    from coursehub.ops.doctor_templates import kernel_templates_check

    config = load_config_text(f"site:\n  data_dir: {site.layout.root}\n").config
    a = students("a").serve()
    assert a.start()["forked"]
    pid_file = site.layout.up_pid_file
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))  # as while `coursehub up` runs
    try:
        check = kernel_templates_check(config, site.layout)
        assert check.status == "ok", check
        assert check.detail.startswith("1 answering, ")
        template = site.template_pid()
        os.kill(template, signal.SIGSTOP)  # hung: answers nothing
        try:
            check = kernel_templates_check(config, site.layout)
        finally:
            os.kill(template, signal.SIGCONT)
        assert check.status == "warn" and f"{COURSE}: not answering" in check.detail
    finally:
        pid_file.unlink()
