"""Run untrusted code (a student's submission) as a throwaway Unix account in a box.

Each run gets:
- its own system account, made for the run and deleted after it, with a uid and gid
  drawn at random from a range nothing else uses (never the uid of an earlier run:
  whatever a uid could have kept, a kernel keyring, a file, is no later run's), no
  home, no supplementary groups and no way to gain privileges (`PR_SET_NO_NEW_PRIVS`);
- its own PID namespace (it sees and signals only its own processes, in its own
  /proc), IPC namespace (SysV shared memory and queues, bounded, gone with the run),
  network namespace (only a loopback that is down: no network at all; no abstract
  Unix socket of the host) and UTS namespace;
- its own file system (sandbox_view.py, forking/sandbox_init.py): a read-only root
  holding only /usr, /etc and the Python installations it runs, the work directory,
  fresh small tmpfs on /tmp, /var/tmp and /dev/shm, a few devices. Nothing else of
  the host is there, so no path leads to a host Unix socket (kernel templates, the
  hub, PostgreSQL, D-Bus) and nothing it writes outside the work directory outlives
  it. We build this view from nothing rather than hiding the known dangerous places
  (/run, the data directory, homes) because a deny list misses the next socket;
  everything is mounted nosuid, and setuid bits are stripped when the work directory
  goes back to root;
- limits on CPU time, address space (each process), processes, file size and wall
  time, and where a writable memory cgroup exists (engines.limits.Cgroups: cgroup v2,
  or v1's memory controller) one per run bounding the memory of all its processes,
  shared memory and tmpfs together (`sandbox_support()` says which);
- on the way out, every process of the account is killed, wherever it went.

Needs root (creating accounts and namespaces). Linux only.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import pwd
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from coursehub.core import safe_dirs
from coursehub.core.errors import CoursehubError
from coursehub.engines.limits import Cgroups, Limits
from coursehub.grading.sandbox_view import readonly_paths

ACCOUNT_PREFIX = "chg-"
MAX_OUTPUT = 1024 * 1024  # bytes of stdout / stderr kept
# Sandbox uids and gids: random in a range above the subordinate ids of login.defs
# and systemd's container ranges, below systemd's foreign range (0x7FFE0000).
UID_BASE, UID_SPAN = 0x70000000, 0x0F000000
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
# The last accounts this process made: what it checks it left nothing of (other
# processes, another service or a grading job, make their own at the same time).
recent_accounts: collections.deque[str] = collections.deque(maxlen=1000)


class SandboxError(CoursehubError):
    """The sandbox itself could not be set up (not the code in it failing)."""


@dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: int = 60
    memory: int = 1024**3  # bytes of address space per process; of the run's cgroup
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


@contextlib.contextmanager
def throwaway_account() -> Iterator[tuple[str, int, int]]:
    """A fresh system account (name, uid, gid), gone afterwards with its processes.
    Its uid (= gid) is new: drawn at random from a range of 250 million, never one
    in use, so no later run has it again."""
    name = ACCOUNT_PREFIX + secrets.token_hex(5)
    recent_accounts.append(name)
    error = ""
    for _ in range(5):
        uid = UID_BASE + secrets.randbelow(UID_SPAN)
        ids = [f"-K{key}={uid}" for key in ("SYS_UID_MIN", "SYS_UID_MAX")]
        ids += [f"-K{key}={uid}" for key in ("SYS_GID_MIN", "SYS_GID_MAX")]
        done = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-log-init", *ids]
            + ["--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]
            + [name],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            break
        error = done.stderr.strip()[:200]  # most likely: that uid or gid is taken
    else:
        raise SandboxError(f"cannot create a sandbox account: {error}")
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
            if p.info["uids"]
            and p.info["uids"].real == uid
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


def _rlimits(limits: SandboxLimits) -> dict[str, tuple[int, int]]:
    cpu = max(1, int(limits.cpu_seconds))
    # +1 process: the box's init runs as the account too
    nproc = limits.processes + 1
    return {
        "RLIMIT_CPU": (cpu, cpu + 1),
        "RLIMIT_AS": (limits.memory, limits.memory),
        "RLIMIT_NPROC": (nproc, nproc),
        "RLIMIT_FSIZE": (limits.file_size, limits.file_size),
        "RLIMIT_CORE": (0, 0),
    }


def box_command(
    argv: Sequence[str],
    uid: int,
    gid: int,
    workdir: Path | str,
    limits: SandboxLimits,
    readable: Sequence[Path] = (),
    cgroup_procs: Sequence[Path] = (),
    pass_fds: Sequence[int] = (),
) -> list[str]:
    """The command running `argv` as uid:gid in a box around `workdir`: the box's
    shim (forking/sandbox_init.py) with its spec, then `argv`."""
    argv = list(argv)
    spec = {
        "uid": uid,
        "gid": gid,
        "workdir": str(workdir),
        "readonly": readonly_paths([sys.executable, argv[0]], readable),
        "tmp_size": limits.tmp_size,
        "rlimits": _rlimits(limits),
        "cgroup_procs": [str(p) for p in cgroup_procs],
        "pass_fds": list(pass_fds),
    }
    shim = [sys.executable, "-I", "-m", "coursehub.forking.sandbox_init", json.dumps(spec)]
    return shim + argv


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
    cgroup_procs: tuple[Path, ...] = ()  # the run's cgroup(s) every process joins
    readable: tuple[Path, ...] = ()  # host paths shown read-only beyond the defaults

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
        """Start `argv` as this account, inside the box, in its work directory. The
        process returned is the box's shim (forking/sandbox_init.py): it ends as `argv` ends
        and passes on the signals it is sent."""
        command = box_command(
            argv,
            self.uid,
            self.gid,
            self.workdir,
            self.limits,
            self.readable,
            self.cgroup_procs,
            kwargs.get("pass_fds", ()),
        )
        return subprocess.Popen(
            command,
            cwd="/",
            env=self.env(env),
            stdin=subprocess.DEVNULL,
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
def run_cgroup(name: str, limits: SandboxLimits) -> Iterator[tuple[Path, ...]]:
    """A memory cgroup for one run where one can be written (else nothing): the
    cgroup.procs files its processes join; removed afterwards."""
    cgroups = Cgroups()
    unit = f"grading-{name}"
    if "memory" not in cgroups.controllers():
        yield ()
        return
    try:
        procs = cgroups.prepare(unit, Limits(memory=limits.memory))
    except OSError as exc:
        raise SandboxError(f"cannot make the grading run's memory cgroup: {exc}") from exc
    if not cgroups.v2:  # v1: only the memory hierarchy (a cpu group would share a weight)
        procs = [p for p in procs if cgroups.root / "memory" in p.parents]
    try:
        yield tuple(procs)
    finally:
        for _ in range(50):  # the last killed processes may still be exiting
            cgroups.remove(unit)
            if not any(p.parent.exists() for p in procs):
                break
            time.sleep(0.02)


@contextlib.contextmanager
def sandbox_account(
    workdir: Path, limits: SandboxLimits = SandboxLimits(), readable: Sequence[Path] = ()
) -> Iterator[SandboxAccount]:
    """A throwaway account owning `workdir` for the block; afterwards every process of
    it is killed, the work directory goes back to root (setuid bits stripped) and the
    account is removed. `readable`: host paths the box shows read-only besides the
    system's and the Python installations it runs (see sandbox_view.py)."""
    workdir = Path(os.path.abspath(workdir))
    if (private := hidden_in_sandbox(workdir)) is not None:
        raise SandboxError(
            f"cannot grade in {workdir}: each grading sandbox gets its own empty {private}; "
            f"set site.data_dir in coursehub.yaml to a directory outside {private}"
        )
    if os.geteuid() != 0:
        raise SandboxError("the grading sandbox needs root (it creates throwaway accounts)")
    with throwaway_account() as (name, uid, gid), run_cgroup(name, limits) as procs:
        _chown_tree(workdir, uid, gid)
        try:
            yield SandboxAccount(name, uid, gid, workdir, limits, procs, tuple(readable))
        finally:
            kill_all_of(uid)
            _chown_tree(workdir, 0, 0)


def run_sandboxed(
    argv: Sequence[str],
    workdir: Path,
    limits: SandboxLimits = SandboxLimits(),
    env: dict[str, str] | None = None,
    readable: Sequence[Path] = (),
) -> SandboxResult:
    """Run `argv` in `workdir` (handed to the throwaway account for the run, back to
    root after it) inside the sandbox; never raises for what the code inside does."""
    with (
        sandbox_account(workdir, limits, readable) as account,
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
    the sandboxed code left there may point anywhere), with no setuid or setgid bit
    left on anything."""
    safe_dirs.chown_tree(root, uid, gid, clear_setid=True)
