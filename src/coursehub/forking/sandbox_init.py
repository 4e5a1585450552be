"""The first processes of a grading sandbox (stdlib only; run as a program, as root).

    python -I -m coursehub.forking.sandbox_init SPEC_JSON PROGRAM [ARGS...]

``grading.sandbox.SandboxAccount.popen`` starts this instead of the program. Why a program and not a
``preexec_fn``: a new PID namespace only applies to the children of the process that
makes it, and its first process (PID 1) must reap orphans and can only be signalled
through handlers it installed (the kernel ignores a default-action SIGKILL, SIGXCPU or
SIGINT sent to it from inside). So three processes:

- the *shim* (this process, root, in the host's namespaces): the one the grader holds.
  It makes the PID namespace, forwards the signals the grader sends (SIGINT to
  interrupt a kernel) and ends as the program ended: same exit status, same signal.
- *init* (PID 1 of the new namespace): joins the run's cgroup, makes new mount, IPC,
  network and UTS namespaces, builds the box's file system (see ``build_view``),
  bounds SysV IPC, sets the limits, becomes the run's account, forks the program,
  forwards signals to it and reaps. When the program ends with nothing left, init
  ends (and the kernel kills whatever is left in the namespace); when processes
  remain, init says so and waits: the grader's sweep of the account counts and
  kills them (``SandboxResult.killed_leftovers``).
- the *program*, exec'd as the run's account.

It lives here, beside the kernel template, for the same reason: a process that forks
and becomes another account, and must end its children with ``os._exit``.

The spec (JSON, made by ``grading/sandbox.py``): uid, gid, workdir, readonly (host paths seen
read-only at the same place), tmp_size, rlimits (name -> value), cgroup_procs (files
to join), pass_fds (descriptors for the program only).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import resource
import signal
import stat
import sys
from typing import Any

SETUP_FAILED = 125  # exit status when the box itself could not be built
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS = 38
# pivot_root has no libc wrapper: its syscall number per machine
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "loongarch64": 41, "ppc64le": 203}
PIVOT_ROOT |= {"s390x": 217, "i686": 217, "i386": 217, "armv7l": 218, "armv6l": 218}
FORWARDED: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FORWARDED += (signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM)
DEVICES = ("null", "zero", "full", "random", "urandom")
OLD, NEW = "/old", "/new"  # where the host's root and the box's root are while building

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    number = PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: unknown syscall number on {platform.machine()}")
    _check(_libc.syscall(number, new_root.encode(), put_old.encode()), "pivot_root")


def _bind(path: str, *, readonly: bool, device: bool = False) -> None:
    """Show the host's `path` at the same place in the box (a symlink stays a symlink:
    sandbox.py lists its target as well)."""
    old, new = OLD + path, NEW + path
    try:
        info = os.lstat(old)
    except FileNotFoundError:
        return
    os.makedirs(os.path.dirname(new), exist_ok=True)
    if stat.S_ISLNK(info.st_mode):
        if not os.path.lexists(new):
            os.symlink(os.readlink(old), new)
        return
    if stat.S_ISDIR(info.st_mode):
        os.makedirs(new, exist_ok=True)
    elif not os.path.exists(new):
        os.close(os.open(new, os.O_CREAT | os.O_WRONLY, 0o600))
    mount(old, new, None, MS_BIND)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (MS_RDONLY if readonly else 0)
    flags |= 0 if device else MS_NODEV
    mount(None, new, None, flags)


def _tmpfs(target: str, size: int, mode: str = "1777", flags: int = MS_NOSUID | MS_NODEV) -> None:
    os.makedirs(target, exist_ok=True)
    mount("tmpfs", target, "tmpfs", flags, f"size={size},mode={mode}")


def build_view(spec: dict[str, Any]) -> None:
    """Replace this mount namespace's root with the box: a read-only tmpfs holding the
    read-only paths, the work directory (read-write), fresh /tmp, /var/tmp and /dev/shm,
    a few devices and this PID namespace's /proc; nothing else of the host, so no
    path leads to a host socket, and nothing writable outlives the run. Setuid bits
    mean nothing anywhere in it (nosuid)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # Build in a tmpfs on /tmp (private to this namespace), with the host's root moved
    # to /old inside it: every host path stays reachable as /old/<path> while binding.
    _tmpfs("/tmp", 1024 * 1024, "0755")
    os.mkdir("/tmp" + OLD)
    _tmpfs("/tmp" + NEW, 1024 * 1024, "0755")
    os.chdir("/tmp")
    pivot_root(".", OLD.lstrip("/"))
    os.chdir("/")
    for path in spec["readonly"]:
        _bind(path, readonly=True)
    _tmpfs(NEW + "/dev", 64 * 1024, "0755", MS_NOSUID | MS_NOEXEC)
    for name in DEVICES:
        _bind("/dev/" + name, readonly=False, device=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        os.symlink(target, f"{NEW}/dev/{name}")
    for name, target in (("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{NEW}/dev/{name}")
    for private in ("/tmp", "/var/tmp", "/dev/shm"):
        _tmpfs(NEW + private, int(spec["tmp_size"]))
    _bind(spec["workdir"], readonly=False)
    os.makedirs(NEW + "/proc", exist_ok=True)
    mount("proc", NEW + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # Into the box; the old root (the building tmpfs with the host under it) is
    # stacked on it by pivot_root(".", ".") and detached, host and all.
    os.chdir(NEW)
    pivot_root(".", ".")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the host's root")
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def limit_ipc(tmp_size: int) -> None:
    """SysV IPC of this (new) IPC namespace: shared memory at most `tmp_size` in all
    (like /dev/shm), removed as soon as nothing has it attached; few message queues."""
    page = os.sysconf("SC_PAGE_SIZE")
    values = {
        "kernel/shmmax": tmp_size,
        "kernel/shmall": max(1, tmp_size // page),
        "kernel/shmmni": 64,
        "kernel/shm_rmid_forced": 1,
        "kernel/msgmni": 16,
        "fs/mqueue/queues_max": 16,
    }
    for name, value in values.items():
        try:
            file = open("/proc/sys/" + name, "w")  # noqa: SIM115
        except FileNotFoundError:  # a kernel without it (no POSIX queues, say)
            continue
        with file:
            file.write(str(value))


def _forward(to: int) -> None:
    def handler(sig: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(to, sig)

    for sig in FORWARDED:
        signal.signal(sig, handler)


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _exec_program(argv: list[str]) -> None:
    for sig in (*FORWARDED, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"cannot run {argv[0]}: {exc.strerror}\n".encode())
    os._exit(127)


def _reap_exited() -> bool:
    """Reap what has ended; whether no process but this one is left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            return False


def _init(spec: dict[str, Any], argv: list[str], report: int) -> None:
    """PID 1 of the box (see the module doc); never returns."""
    for procs in spec["cgroup_procs"]:
        with open(procs, "w") as file:
            file.write("0")  # this process; its children follow
    unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS)
    build_view(spec)
    limit_ipc(int(spec["tmp_size"]))
    os.chdir(spec["workdir"])
    for name, (soft, hard) in spec["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    uid, gid = int(spec["uid"]), int(spec["gid"])
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    program = os.fork()
    if program == 0:
        os.close(report)
        _exec_program(argv)
    _close(spec["pass_fds"])
    _forward(program)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == program:
            break
    alone = _reap_exited()
    code = os.waitstatus_to_exitcode(status)
    os.write(report, f"{code} {'alone' if alone else 'leftovers'}\n".encode())
    while not alone:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    os._exit(0)


def _end_like(code: int) -> None:
    """Exit as the program did: its status, or killed by its signal."""
    if code < 0:
        with contextlib.suppress(OSError, ValueError):  # SIGKILL, SIGSTOP: always default
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code  # a signal whose default is not to end a process
    os._exit(code)


def main(args: list[str]) -> None:
    spec, argv = json.loads(args[0]), args[1:]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        unshare(CLONE_NEWPID)
        read_end, report = os.pipe()
        init = os.fork()
    except OSError as exc:
        os.write(2, f"coursehub sandbox: cannot make the box: {exc}\n".encode())
        os._exit(SETUP_FAILED)
    if init == 0:
        os.close(read_end)
        try:
            _init(spec, argv, report)
        except BaseException as exc:  # noqa: BLE001 - any failure: say it, end
            os.write(2, f"coursehub sandbox: cannot make the box: {exc}\n".encode())
        os._exit(SETUP_FAILED)
    os.close(report)
    _close(spec["pass_fds"])
    _forward(init)
    line = b""
    while not line.endswith(b"\n") and (chunk := os.read(read_end, 64)):
        line += chunk
    if line.endswith(b" leftovers\n"):
        _end_like(int(line.split()[0]))  # init stays until the grader's sweep
    _, status = os.waitpid(init, 0)
    if line:
        _end_like(int(line.split()[0]))
    code = os.waitstatus_to_exitcode(status)  # init died before the program ended
    _end_like(code if code < 0 else SETUP_FAILED)


if __name__ == "__main__":
    main(sys.argv[1:])
