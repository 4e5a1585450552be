"""Start-up hooks: admin scripts run before a student's server starts.

hooks.dir holds site/as-root, site/as-user, <course>/as-root and <course>/as-user.
They run in that order (site before course), the as-root ones as the hub's own
account (root with the local backend), the as-user ones as the student. Each has
a timeout, gets a small environment with nothing secret in it, and writes its
output to a log file only root (the staff) can read.

Students must never be able to plant an as-root script, so every file and folder
on the way to a hook must be owned by root (or the hub's own account) and not
writable by anyone else; otherwise nothing runs and the start fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coursehub.core import safe_dirs
from coursehub.core.errors import CoursehubError

SITE = "site"
KINDS = ("as-root", "as-user")
OUTPUT_HEAD = 8 * 1024  # kept from the start of a hook's output
OUTPUT_TAIL = 56 * 1024  # kept from its end
LOG_MAX_BYTES = 1024 * 1024  # beyond this the log is moved to <name>.1 before a run
REASON_MAX = 200  # characters of output shown to the student
POLL_SECONDS = 0.1  # how often a running hook is checked for its exit
DRAIN_SECONDS = 5  # wait for output after the hook exits (a runaway may hold the pipe)
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class HookError(CoursehubError):
    """A start-up hook failed or could not run; the message is for the student."""


class UnsafeHooksError(HookError):
    """A hook or a folder on its way could be changed by someone other than root."""


@dataclass(frozen=True)
class Hook:
    path: Path
    scope: str  # "site" or "course"
    as_root: bool

    @property
    def label(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


@dataclass(frozen=True)
class HookContext:
    """Who the server is for; becomes the hooks' COURSEHUB_* environment."""

    user: str  # the hub user name
    course: str  # "" for a server that is not a course server
    home: Path
    workspace: Path  # the hooks' working directory
    unix_user: str  # the account the server (and the as-user hooks) run as

    def environment(self, as_root: bool) -> dict[str, str]:
        # Built from scratch: the hub's own environment holds its tokens.
        account = "root" if as_root and os.geteuid() == 0 else self.unix_user
        home = _home_of(account) if as_root else str(self.home)
        return {
            "PATH": SAFE_PATH,
            "LANG": "C.UTF-8",
            "HOME": home,
            "USER": account,
            "LOGNAME": account,
            "COURSEHUB_USER": self.user,
            "COURSEHUB_COURSE": self.course,
            "COURSEHUB_HOME": str(self.home),
            "COURSEHUB_WORKSPACE": str(self.workspace),
            "COURSEHUB_UNIX_USER": self.unix_user,
        }


def _home_of(account: str) -> str:
    try:
        return pwd.getpwnam(account).pw_dir
    except KeyError:
        return "/"


def trusted_owners() -> frozenset[int]:
    """root, and the hub's own account when it does not run as root (demo)."""
    return frozenset({0, os.geteuid()})


def find_hooks(hooks_dir: Path, course: str) -> list[Hook]:
    """The hooks to run for `course` ("" for none), in order, after safety checks."""
    if not hooks_dir.is_dir():
        raise UnsafeHooksError(f"the start-up scripts folder {hooks_dir} does not exist")
    owners = trusted_owners()
    _check_chain(hooks_dir, owners)
    found = []
    folders = []
    for scope in [SITE] + ([course] if course else []):
        folder = hooks_dir / scope
        if folder.exists() or folder.is_symlink():
            _check_chain(folder, owners)
            folders.append((SITE if scope == SITE else "course", folder))
    # All as-root hooks first (site, then course), then all as-user ones.
    for kind in KINDS:
        for scope, folder in folders:
            path = folder / kind
            if not (path.exists() or path.is_symlink()):
                continue
            _check_chain(path, owners)
            if not path.is_file():
                raise UnsafeHooksError(f"the start-up script {path} is not a file")
            if not os.access(path, os.X_OK):
                raise UnsafeHooksError(f"the start-up script {path} is not executable")
            found.append(Hook(path=path, scope=scope, as_root=kind == KINDS[0]))
    return found


def _check_chain(path: Path, owners: frozenset[int]) -> None:
    """`path` (links resolved) is owned by a trusted account and writable by it
    alone; so is each folder above it, except that a sticky folder (like /tmp)
    may be writable by all: nobody can replace what others own in it."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise UnsafeHooksError(f"cannot check {path}: {exc}") from None
    for index, part in enumerate([real, *real.parents]):
        st = os.stat(part)
        if st.st_uid not in owners:
            raise UnsafeHooksError(f"{part} is not owned by root")
        writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        sticky = index > 0 and stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
        if writable and not sticky:
            raise UnsafeHooksError(f"{part} is writable by others than its owner")


@dataclass(frozen=True)
class HookResult:
    returncode: int | None  # None: stopped at the timeout
    output: bytes  # bounded: the head and the tail


async def run_hook(
    hook: Hook,
    context: HookContext,
    timeout: float,
    preexec: Callable[[], None] | None,
) -> HookResult:
    """Run one hook in its own process group; on timeout the whole group is killed.

    The exit is watched by polling, not by the end of the output: something a hook
    leaves in the background may hold its output open."""
    # No cwd here: Popen would chdir by path as root, through whatever link the
    # student has put in place of the workspace. `preexec` moves into it.
    proc = subprocess.Popen(  # noqa: S603 - a checked, admin-owned script
        [str(hook.path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=context.environment(hook.as_root),
        preexec_fn=preexec,
        start_new_session=True,
    )
    assert proc.stdout is not None
    output = _BoundedOutput()
    loop = asyncio.get_running_loop()
    done = _read_pipe(loop, proc.stdout.fileno(), output)
    deadline = loop.time() + timeout
    exited = False
    try:
        while not (exited := _has_exited(proc.pid)) and loop.time() < deadline:
            await asyncio.sleep(POLL_SECONDS)
    finally:
        # Also on success or cancellation: nothing a hook started outlives it. The
        # group is killed before the leader is reaped, so its id cannot be reused.
        _kill_group(proc.pid)
        returncode = await asyncio.to_thread(proc.wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), DRAIN_SECONDS)
        loop.remove_reader(proc.stdout.fileno())
        proc.stdout.close()
    return HookResult(returncode=returncode if exited else None, output=output.value())


def _has_exited(pid: int) -> bool:
    # WNOWAIT leaves the process to be reaped later, after its group is killed.
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    try:
        return os.waitid(os.P_PID, pid, flags) is not None
    except ChildProcessError:  # already reaped by someone else
        return True


def _read_pipe(
    loop: asyncio.AbstractEventLoop, fd: int, output: _BoundedOutput
) -> asyncio.Future[None]:
    """Feed `output` from `fd` on the event loop; the future is done at end of file."""
    os.set_blocking(fd, False)
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            output.feed(chunk)
            return
        loop.remove_reader(fd)
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    return done


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class _BoundedOutput:
    """Keeps the first and last bytes of a stream; drops (and counts) the middle."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = OUTPUT_HEAD - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > OUTPUT_TAIL:
            extra = len(self.tail) - OUTPUT_TAIL
            del self.tail[:extra]
            self.dropped += extra

    def value(self) -> bytes:
        gap = f"\n[... {self.dropped} bytes of output left out ...]\n".encode()
        return bytes(self.head) + (gap if self.dropped else b"") + bytes(self.tail)


def last_line(output: bytes) -> str:
    """The last non-empty line, printable and short: shown on the progress page."""
    for raw in reversed(output.decode(errors="replace").splitlines()):
        line = "".join(c for c in raw if c.isprintable()).strip()
        if line:
            return line if len(line) <= REASON_MAX else line[: REASON_MAX - 1] + "…"
    return ""


def failure_reason(hook: Hook, result: HookResult, timeout: float) -> str:
    whose = "site's" if hook.scope == SITE else "course's"
    if result.returncode is None:
        return f"The {whose} start-up script did not finish within {timeout:g} s"
    code = result.returncode
    how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    line = last_line(result.output)
    return f"The {whose} start-up script failed ({how})" + (f": {line}" if line else "")


def open_log(path: Path) -> int:
    """A root-only log file, moved aside once it grows past LOG_MAX_BYTES."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > LOG_MAX_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def _write_log(path: Path, hook: Hook, context: HookContext, result: HookResult) -> None:
    who = "root" if hook.as_root else context.unix_user
    status = "timed out" if result.returncode is None else f"exit {result.returncode}"
    header = (
        f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {hook.label} ({hook.path}) as {who}: {status}\n"
    )
    fd = open_log(path)
    try:
        os.write(
            fd,
            header.encode()
            + result.output
            + (b"" if result.output.endswith(b"\n") or not result.output else b"\n"),
        )
    finally:
        os.close(fd)


async def run_hooks(
    hooks_dir: Path,
    context: HookContext,
    timeout: float,
    log_file: Path,
    switch_user: Callable[[], None] | None,
    on_hook: Callable[[Hook], None] | None = None,
) -> list[Hook]:
    """Run the hooks for `context` in order; raise HookError at the first failure.

    `switch_user` is the preexec step that makes a process the student (None: stay
    as the hub's account, as the demo backend does)."""
    hooks = await asyncio.to_thread(find_hooks, hooks_dir, context.course)
    if not hooks:
        return hooks
    workdir = str(context.workspace)
    # The student may swap their workspace for a link at any moment: as-root hooks
    # start in the folder opened here, without following links, from the home down.
    try:
        workdir_fd = await asyncio.to_thread(_open_workspace, context)
    except (safe_dirs.UnsafePathError, OSError) as exc:
        raise HookError(f"The start-up scripts cannot run in your course folder: {exc}") from None

    def as_root() -> None:
        os.fchdir(workdir_fd)

    def as_student() -> None:
        if switch_user is not None:
            switch_user()
        os.chdir(workdir)  # as the student: a link leads only where they may go

    try:
        return await _run_each(hooks, context, timeout, log_file, as_root, as_student, on_hook)
    finally:
        os.close(workdir_fd)


def _open_workspace(context: HookContext) -> int:
    """The workspace's descriptor, reached from the home (whose folder is root's)."""
    home, workspace = context.home, context.workspace
    if workspace == home or home in workspace.parents:
        return safe_dirs.open_below(home, safe_dirs.parts_below(home, workspace))
    return safe_dirs.open_dir(workspace)


async def _run_each(
    hooks: list[Hook],
    context: HookContext,
    timeout: float,
    log_file: Path,
    as_root: Callable[[], None],
    as_student: Callable[[], None],
    on_hook: Callable[[Hook], None] | None,
) -> list[Hook]:
    for hook in hooks:
        if on_hook is not None:
            on_hook(hook)
        try:
            result = await run_hook(hook, context, timeout, as_root if hook.as_root else as_student)
        except (OSError, subprocess.SubprocessError) as exc:
            whose = "site's" if hook.scope == SITE else "course's"
            raise HookError(f"The {whose} start-up script could not be started: {exc}") from exc
        await asyncio.to_thread(_write_log, log_file, hook, context, result)
        if result.returncode != 0:
            raise HookError(failure_reason(hook, result, timeout))
    return hooks
