"""Run untrusted code (a student's submission) as a throwaway Unix account in a box.

Each run gets:
- its own system account, made for the run and deleted after it, with no home, no
  supplementary groups and no way to gain privileges (`PR_SET_NO_NEW_PRIVS`);
- its own network namespace with only a loopback that is down: no network at all;
- its own mount namespace with fresh, small tmpfs on /tmp, /var/tmp and /dev/shm, so
  the only place it can write to is its work directory;
- limits on CPU time, address space (memory), processes (per the fresh uid, so a fork
  bomb hits it at once), file size, and wall time; output is kept to a bounded size;
- on the way out, every process of the account is killed, wherever it went.

Needs root (creating accounts and namespaces). Linux only.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import pwd
import resource
import secrets
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from coursehub.core.errors import CoursehubError

ACCOUNT_PREFIX = "chg-"
MAX_OUTPUT = 1024 * 1024  # bytes of stdout / stderr kept
_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 2, 4, 16384, 1 << 18
_PR_SET_NO_NEW_PRIVS = 38
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
# The last accounts this process made: what it checks it left nothing of (other
# processes, another service or a grading job, make their own at the same time).
recent_accounts: collections.deque[str] = collections.deque(maxlen=1000)


class SandboxError(CoursehubError):
    """The sandbox itself could not be set up (not the code in it failing)."""


@dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: int = 60
    memory: int = 1024**3  # bytes of address space
    processes: int = 64
    file_size: int = 64 * 1024**2  # bytes, any one file
    wall_seconds: float = 120.0
    tmp_size: int = 64 * 1024**2  # bytes of each private tmpfs


@dataclass(frozen=True)
class SandboxResult:
    returncode: int | None  # None: killed at the wall-time limit
    stdout: bytes
    stderr: bytes
    wall_seconds: float
    timed_out: bool
    killed_leftovers: int  # processes still running after the main one ended

    @property
    def outcome(self) -> str:
        """A short reason a grader can show: ok, exit N, signal NAME, wall time."""
        if self.timed_out:
            return "stopped at the wall-time limit"
        if self.returncode == 0:
            return "ok"
        if self.returncode is not None and self.returncode < 0:
            name = signal.Signals(-self.returncode).name
            if name == "SIGXCPU":
                return "stopped at the CPU-time limit"
            return f"killed by {name}"
        return f"exit status {self.returncode}"


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


@contextlib.contextmanager
def throwaway_account() -> Iterator[tuple[str, int, int]]:
    """A fresh system account (name, uid, gid), gone afterwards with its processes."""
    name = ACCOUNT_PREFIX + secrets.token_hex(5)
    recent_accounts.append(name)
    done = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SandboxError(f"cannot create a sandbox account: {done.stderr.strip()[:200]}")
    entry = pwd.getpwnam(name)
    try:
        yield name, entry.pw_uid, entry.pw_gid
    finally:
        kill_all_of(entry.pw_uid)
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)  # if userdel left it


def kill_all_of(uid: int, rounds: int = 50) -> int:
    """SIGKILL every process running as `uid` until none is left; how many there were."""
    killed: set[int] = set()
    for _ in range(rounds):
        # a zombie has ended already: it waits for its parent (or init) to collect it
        found = [
            p
            for p in psutil.process_iter(["uids", "status"])
            if p.info["uids"] and p.info["uids"].real == uid
            and p.info["status"] != psutil.STATUS_ZOMBIE
        ]
        if not found:
            break
        for proc in found:
            with contextlib.suppress(psutil.Error):
                proc.kill()
                killed.add(proc.pid)
        time.sleep(0.02)
    return len(killed)


def _preexec(uid: int, gid: int, limits: SandboxLimits) -> None:
    """In the child, as root, before exec: namespaces, private tmp, limits, then drop."""
    _check(_libc.unshare(_CLONE_NEWNET | _CLONE_NEWNS), "unshare")
    _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "private mounts")
    options = f"size={limits.tmp_size},mode=1777".encode()
    for target in PRIVATE_TMP:
        if os.path.isdir(target):
            _check(
                _libc.mount(b"tmpfs", target.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, options),
                f"tmpfs on {target}",
            )
    cpu = max(1, int(limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _read_bounded(f: IO[bytes]) -> bytes:
    f.seek(0)
    data = f.read(MAX_OUTPUT + 1)
    return data[:MAX_OUTPUT] + (b"\n[output cut]" if len(data) > MAX_OUTPUT else b"")


@dataclass(frozen=True)
class SandboxAccount:
    """A throwaway account that owns `workdir` for as long as it exists."""

    name: str
    uid: int
    gid: int
    workdir: Path
    limits: SandboxLimits

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(self.workdir),
        }
        return {**base, **(extra or {})}

    def popen(
        self, argv: Sequence[str], env: dict[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[bytes]:
        """Start `argv` as this account, inside the box, in its work directory."""
        return subprocess.Popen(
            list(argv),
            cwd=self.workdir,
            env=self.env(env),
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: _preexec(self.uid, self.gid, self.limits),  # noqa: PLW0108
            start_new_session=True,
            **kwargs,
        )

    def kill_all(self) -> int:
        return kill_all_of(self.uid)


def hidden_in_sandbox(path: Path) -> str | None:
    """The private directory of the sandbox that would hide `path` from the grader,
    if any: work directories there are invisible across the namespace boundary."""
    resolved = Path(os.path.realpath(path))
    for private in PRIVATE_TMP:
        if resolved == Path(private) or Path(private) in resolved.parents:
            return private
    return None


@contextlib.contextmanager
def sandbox_account(
    workdir: Path, limits: SandboxLimits = SandboxLimits()
) -> Iterator[SandboxAccount]:
    """A throwaway account owning `workdir` for the block; afterwards every process of
    it is killed, the work directory goes back to root and the account is removed."""
    workdir = Path(workdir)
    if (private := hidden_in_sandbox(workdir)) is not None:
        raise SandboxError(
            f"cannot grade in {workdir}: each grading sandbox gets its own empty {private}; "
            f"set site.data_dir in coursehub.yaml to a directory outside {private}"
        )
    if os.geteuid() != 0:
        raise SandboxError("the grading sandbox needs root (it creates throwaway accounts)")
    with throwaway_account() as (name, uid, gid):
        _chown_tree(workdir, uid, gid)
        try:
            yield SandboxAccount(name, uid, gid, workdir, limits)
        finally:
            kill_all_of(uid)
            _chown_tree(workdir, 0, 0)


def run_sandboxed(
    argv: Sequence[str],
    workdir: Path,
    limits: SandboxLimits = SandboxLimits(),
    env: dict[str, str] | None = None,
) -> SandboxResult:
    """Run `argv` in `workdir` (handed to the throwaway account for the run, back to
    root after it) inside the sandbox; never raises for what the code inside does."""
    with (
        sandbox_account(workdir, limits) as account,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        started = time.monotonic()
        proc = account.popen(argv, env=env, stdout=out, stderr=err, close_fds=True)
        timed_out = False
        try:
            returncode: int | None = proc.wait(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            account.kill_all()
            proc.wait()
        wall = time.monotonic() - started
        leftovers = account.kill_all()
        return SandboxResult(
            returncode=returncode,
            stdout=_read_bounded(out),
            stderr=_read_bounded(err),
            wall_seconds=wall,
            timed_out=timed_out,
            killed_leftovers=leftovers,
        )


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """Give `root` and everything below it to uid:gid, never following symlinks (what
    the sandboxed code left there may point anywhere)."""
    os.chown(root, uid, gid, follow_symlinks=False)
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)
