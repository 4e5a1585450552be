"""The kernel template of one course environment (stdlib only; run by path).

    <coursehub's python> /path/to/coursehub/forking/kernels/template.py \
        --socket PATH --env ENV_DIR --env-stamp STAMP

Started by the hub (root, environment of PATH/LANG only, no secret) with coursehub's
own interpreter, never the course environment's: everything in a course environment
(a requirement's ``.pth`` file, its copy of ipykernel or numpy) is the instructor's,
and none of it may run as root. As root the template imports only what coursehub's
own environment provides, and only the packages the course environment has at the
very same version (so a kernel gets the code its course asked for), freezes those
objects for the garbage collector, and serves a Unix socket in a plain blocking loop:
no thread, no event loop. Each FORK forks a child that becomes the requesting student
(the socket peer, known from SO_PEERCRED), then leaves coursehub's environment for the
course's (``site.addsitedir``, which runs its ``.pth`` files, now as the student) and
runs the kernel; the parent never reads a byte of a request, which only the child
parses, after dropping to the student.

Only login accounts in the template's own namespaces are served: never root, a
system account (the build account, a grading sandbox's) or a process in other
namespaces (a grading sandbox), whatever the socket's mode lets connect.

Protocol (4-byte operation first):
- ``STAT``: one JSON line about the template (no secret); ``exited`` holds the exit
  codes of the asking account's own kernels only.
- ``FORK``: the parent forks at once (or answers ``{"error": ...}``). The child takes
  the peer's session, cgroup, rlimits, groups and ids, then reads one request frame
  (4-byte big-endian length, JSON ``{"argv", "env", "cwd"}``; up to two descriptors by
  SCM_RIGHTS for the kernel's stdout and stderr) and answers ``{"pid": N}`` or
  ``{"error": "..."}`` as a JSON line. ``argv`` must be the course environment's
  ``python -m ipykernel_launcher -f <connection file> ...``.

The framing lives in coursehub/core/kernel_wire.py (stdlib only), shared with the
provisioner in the student's server; the module is importable without side effects.
"""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

REQUEST_TIMEOUT = 5.0  # the child waits this long for the request, then gives up
OP_TIMEOUT = 2.0  # a connection that has not said its operation by then is dropped
MAX_PENDING = 64  # connections waiting for their operation (oldest dropped beyond)
KEEP_EXIT_CODES = 1000
SETUP_FAILED = 70
RLIMITS: tuple[str, ...] = (
    "RLIMIT_NPROC",
    "RLIMIT_FSIZE",
    "RLIMIT_AS",
    "RLIMIT_DATA",
    "RLIMIT_NOFILE",
)
RLIMITS += ("RLIMIT_CORE",)
# What a kernel imports while it starts, by group; a group is preloaded only when
# every distribution it loads is in the course environment at the same version.
PRELOAD_GROUPS: dict[str, tuple[str, ...]] = {}
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.comm",
    "IPython",
    "IPython.core.interactiveshell",
    "IPython.core.completer",
    "zmq",
    "jupyter_client.session",
    "comm",
    "debugpy",
    "ipykernel.debugger",
)
PRELOAD_GROUPS["kernel"] = PRELOAD
LEADS = {"kernel": "ipykernel", "numpy": "numpy", "pandas": "pandas"}
# Heavy libraries real notebooks start with (seconds each when imported cold).
PRELOAD_GROUPS["numpy"] = ("numpy",)
PRELOAD_GROUPS["pandas"] = ("pandas",)
MAX_METADATA = 256 * 1024  # bytes of a METADATA file read (as root, from the course env)


def _load_wire() -> Any:
    """The socket framing shared with the provisioner: coursehub/core/kernel_wire.py.
    Run by path, with the course environment's Python (no coursehub there), the file
    is loaded by its path inside the same installed package."""
    if __package__:
        from coursehub.core import kernel_wire

        return kernel_wire
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, os.pardir, os.pardir, "core", "kernel_wire.py")
    spec = importlib.util.spec_from_file_location("coursehub_kernel_wire", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_wire = _load_wire()
FORK, STAT, MAX_REQUEST = _wire.FORK, _wire.STAT, _wire.MAX_REQUEST
RequestError = _wire.RequestError
send_request, recv_request = _wire.send_request, _wire.recv_request
send_line, recv_line = _wire.send_line, _wire.recv_line
peer_credentials = _wire.peer_credentials


def env_generation(python: str) -> str:
    """The environment directory `python` runs from, resolved (a rebuild changes it)."""
    return os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(python))))


# --- the course environment, seen from coursehub's interpreter ------------------------------


class CourseEnv:
    """Where a course environment (a venv made from coursehub's base interpreter) is."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)  # the stable path (a symlink to a generation)
        self.python = os.path.join(self.root, "bin", "python")
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        self.site = os.path.join(self.root, "lib", version, "site-packages")

    def mismatch(self) -> str | None:
        """Why this interpreter cannot serve the environment's kernels (None: it can)."""
        stamp = _read_json(os.path.join(self.root, "coursehub-environment.json"))
        base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        if stamp.get("python") != base or stamp.get("python_version") != version:
            return (
                f"the environment was built with {stamp.get('python')!r}, not with this "
                f"interpreter's base {base}: rebuild it with `coursehub course build`"
            )
        return None


def _read_small(path: str, limit: int = MAX_METADATA) -> str:
    """A regular file's first `limit` bytes, never through a link (the course
    environment's files are the instructor's: this runs as root)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        return os.read(fd, limit).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _read_json(path: str) -> dict[str, Any]:
    import json

    try:
        data = json.loads(_read_small(path))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _canonical(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def course_versions(site_dir: str) -> dict[str, str]:
    """Distribution name -> version installed in a course environment, read as data
    (bounded, links not followed): nothing of it is imported."""
    found: dict[str, str] = {}
    try:
        entries = list(os.scandir(site_dir))
    except OSError:
        return found
    for entry in entries:
        if not entry.name.endswith(".dist-info") or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            text = _read_small(os.path.join(site_dir, entry.name, "METADATA"))
        except OSError:
            continue
        headers: dict[str, str] = {}
        for line in text.split("\n\n", 1)[0].splitlines():
            key, sep, value = line.partition(":")
            if sep and key in ("Name", "Version"):
                headers.setdefault(key, value.strip())
        if "Name" in headers and "Version" in headers:
            found[_canonical(headers["Name"])] = headers["Version"]
    return found


def our_versions() -> dict[str, str]:
    """The same for coursehub's own environment (this interpreter's)."""
    from importlib import metadata

    return {
        _canonical(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if d.metadata["Name"]
    }


def template_paths() -> list[str]:
    """sys.path entries of coursehub's environment (all but the standard library's):
    removed in each kernel, which gets the course environment's instead."""
    import sysconfig

    stdlib = [sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")]
    stdlib = [os.path.realpath(p) for p in stdlib if p]
    major, minor = sys.version_info[:2]
    zipped = os.path.join(sys.base_prefix, "lib", f"python{major}{minor}.zip")

    def standard(entry: str) -> bool:
        if entry == zipped:
            return True
        real = os.path.realpath(entry or ".")
        inside = any(real == s or real.startswith(s + os.sep) for s in stdlib)
        return inside and os.sep + "site-packages" not in real and "dist-packages" not in real

    return [p for p in sys.path if not standard(p)]


def _distributions_of(modules: list[str], our_dirs: list[str]) -> dict[str, set[str]]:
    """Module name -> the distributions (of coursehub's environment) it came from;
    modules from elsewhere (the standard library) are left out."""
    from importlib import metadata

    top_level = metadata.packages_distributions()
    dirs = [os.path.realpath(d) for d in our_dirs if os.path.isdir(d)]
    found: dict[str, set[str]] = {}
    for name in modules:
        path = getattr(sys.modules.get(name), "__file__", None)
        if not path:
            continue
        real = os.path.realpath(path)
        for folder in dirs:
            if real.startswith(folder + os.sep):
                first = real[len(folder) + 1 :].split(os.sep, 1)[0]
                top = first.split(".", 1)[0]
                found[name] = {_canonical(d) for d in top_level.get(top, [])} or {f"?{top}"}
                break
    return found


# --- the parent --------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} kernel-template[{os.getpid()}] {message}")
    sys.stdout.flush()


class Template:
    def __init__(
        self,
        path: str,
        stamp: str,
        env: CourseEnv,
        preloaded: list[str],
        failed: dict[str, str],
    ):
        self.path = path
        self.stamp = stamp
        self.env = env
        self.preloaded = preloaded
        self.failed = failed
        self.mismatch = env.mismatch()
        self.own_paths = template_paths()
        self.login_uids = _login_uid_range()
        self.generation = env_generation(env.python)
        self.started = time.time()
        self.forks = 0
        self.refused = 0
        self.children: dict[int, int] = {}  # pid -> uid it runs as
        self.exited: OrderedDict[int, tuple[int, int]] = OrderedDict()  # pid -> (uid, code)
        self.pending: dict[socket.socket, tuple[float, bytes]] = {}
        self.stopping = False
        self.parent = os.getppid()
        self.sock = _listen(path)
        self.inode = os.stat(path).st_ino  # the socket file we made (not a successor)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ)
        # SIGCHLD wakes the loop up through this pair, so exits are reaped at once.
        self.wakeup, self._wakeup_w = socket.socketpair()
        for end in (self.wakeup, self._wakeup_w):
            end.setblocking(False)
        self.selector.register(self.wakeup, selectors.EVENT_READ)

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
        signal.set_wakeup_fd(self._wakeup_w.fileno(), warn_on_full_buffer=False)
        log(f"ready on {self.path}: {len(self.preloaded)} modules preloaded")
        try:
            while not self.stopping:
                for key, _events in self.selector.select(timeout=1.0):
                    if key.fileobj is self.sock:
                        self._accept()
                    elif key.fileobj is self.wakeup:
                        with contextlib.suppress(OSError):
                            self.wakeup.recv(4096)
                    else:
                        self._read_op(key.fileobj)  # type: ignore[arg-type]
                self._reap()
                self._expire()
                if os.getppid() != self.parent:
                    log("the hub is gone: exiting (running kernels go on)")
                    break
        finally:
            log("stopping")
            for conn in list(self.pending):
                self._drop(conn)
            self.selector.close()
            self.sock.close()
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self.inode:
                    os.unlink(self.path)  # not a newer template's socket

    def _stop(self, _sig: int, _frame: Any) -> None:
        self.stopping = True

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.setblocking(False)  # a silent client must never hold the loop up
        if len(self.pending) >= MAX_PENDING:
            self._drop(min(self.pending, key=lambda c: self.pending[c][0]))
        self.pending[conn] = (time.monotonic(), b"")
        self.selector.register(conn, selectors.EVENT_READ)

    def _read_op(self, conn: socket.socket) -> None:
        since, got = self.pending[conn]
        try:
            chunk = conn.recv(4 - len(got))
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(conn)
            return
        got += chunk
        if len(got) < 4:
            self.pending[conn] = (since, got)
            return
        self.selector.unregister(conn)
        del self.pending[conn]
        try:
            conn.settimeout(1.0)
            if got == STAT:
                pid, uid, _gid = peer_credentials(conn)
                why = None if uid == 0 else self._stranger(pid, uid)  # root: the hub
                send_line(conn, {"error": why} if why else self.status(uid))
            elif got == FORK:
                self._fork(conn)
        except OSError as exc:
            log(f"client error: {exc}")
        finally:
            conn.close()

    def _drop(self, conn: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        self.pending.pop(conn, None)
        conn.close()

    def _expire(self) -> None:
        now = time.monotonic()
        for conn, (since, _got) in list(self.pending.items()):
            if now - since > OP_TIMEOUT:
                self._drop(conn)

    def _fork(self, conn: socket.socket) -> None:
        peer_pid, uid, gid = peer_credentials(conn)
        why = self._refusal(peer_pid, uid)
        if why is not None:
            self.refused += 1
            log(f"fork refused for uid {uid}: {why}")
            send_line(conn, {"error": why})
            return
        try:
            # Pins the peer: if its pid is reused later, this descriptor still says
            # the process that connected has gone.
            pidfd = os.pidfd_open(peer_pid)
        except OSError as exc:
            send_line(conn, {"error": f"the requesting process is gone: {exc}"})
            return
        try:
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                others = [self.sock, self.wakeup, self._wakeup_w, *self.pending]
                _child(conn, others, self.selector, self, peer_pid, pidfd, uid, gid)  # no return
            self.forks += 1
            self.children[pid] = uid
        finally:
            os.close(pidfd)

    def _refusal(self, pid: int, uid: int) -> str | None:
        if uid == 0:
            return "kernels are never forked for root"
        stranger = self._stranger(pid, uid)
        if stranger is not None:
            return stranger
        if self.mismatch is not None:
            return self.mismatch
        threads = threading.active_count()
        if threads != 1:  # a fork would copy some thread's half-done work
            return f"the template runs {threads} threads; not forking"
        if env_generation(self.env.python) != self.generation:
            return "the course environment was rebuilt since this template started"
        return None

    def _stranger(self, pid: int, uid: int) -> str | None:
        """Why the peer is not a student's server this template serves (None: it is).
        Students are login accounts in the host's namespaces; the build account and
        grading sandboxes' accounts are system accounts, and sandboxes have their own
        namespaces: a kernel forked from here would escape them."""
        low, high = self.login_uids
        if not low <= uid <= high:
            return f"uid {uid} is not a login account ({low}-{high}): not served"
        for kind in NAMESPACES:
            try:
                theirs = os.readlink(f"/proc/{pid}/ns/{kind}")
                mine = os.readlink(f"/proc/self/ns/{kind}")
            except OSError:
                return "cannot see the requesting process's namespaces"
            if theirs != mine:
                return f"the requesting process is in another {kind} namespace: not served"
        return None

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            uid = self.children.pop(pid, -1)
            self.exited[pid] = (uid, os.waitstatus_to_exitcode(status))
            while len(self.exited) > KEEP_EXIT_CODES:
                self.exited.popitem(last=False)

    def status(self, uid: int) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "env_stamp": self.stamp,
            "generation": self.generation,
            "python": self.env.python,
            "interpreter": sys.executable,
            "started": self.started,
            "forks": self.forks,
            "refused": self.refused,
            "children": len(self.children),
            "threads": threading.active_count(),
            "preloaded": len(self.preloaded),
            "failed": self.failed,
            "current": env_generation(self.env.python) == self.generation,
            "mismatch": self.mismatch,
            "exited": {str(p): code for p, (u, code) in self.exited.items() if u == uid},
        }


NAMESPACES = ("mnt", "net", "ipc", "pid", "user")


def _login_uid_range(path: str = "/etc/login.defs") -> tuple[int, int]:
    """UID_MIN..UID_MAX: the uids useradd gives ordinary (login) accounts."""
    values = {"UID_MIN": 1000, "UID_MAX": 60000}
    try:
        text = _read_small(path)
    except OSError:
        text = ""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in values and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    return values["UID_MIN"], values["UID_MAX"]


def _listen(path: str) -> socket.socket:
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o711, exist_ok=True)
    os.chmod(folder, 0o711)  # students reach the socket; they cannot list the folder
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    # Anyone may connect: who is asking is SO_PEERCRED's to say, not the file mode
    # (Template._stranger refuses all but students' servers).
    os.chmod(path, 0o666)
    sock.listen(128)
    return sock


# --- the child -----------------------------------------------------------------------------


def _child(
    conn: socket.socket,
    others: list[socket.socket],
    selector: selectors.BaseSelector,
    template: Template,
    peer_pid: int,
    pidfd: int,
    uid: int,
    gid: int,
) -> None:
    """Become the student's kernel; never returns."""
    code = SETUP_FAILED
    try:
        selector.close()
        for other in others:
            other.close()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()  # the template's and the hub's signals never reach the kernel
        try:
            _become(peer_pid, pidfd, uid, gid)
            conn.settimeout(REQUEST_TIMEOUT)
            request, fds = recv_request(conn)  # untrusted: read only as the student
            argv, env, cwd = _check(request, fds, template.env.python)
            os.chdir(cwd)
        except Exception as exc:  # noqa: BLE001 - told to the client, which starts cold
            with contextlib.suppress(OSError):
                send_line(conn, {"error": f"{type(exc).__name__}: {exc}"})
            raise
        _redirect(fds)
        send_line(conn, {"pid": os.getpid()})
        conn.close()
        _close_inherited(keep={pidfd})
        _watch_peer(pidfd)
        code = _run_kernel(argv, env, template)
    except BaseException:  # noqa: BLE001 - the reason goes to the kernel's log
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # exiting whatever happens
                stream.flush()
        os._exit(code)


def _become(peer_pid: int, pidfd: int, uid: int, gid: int) -> None:
    """Take the peer's cgroup, limits, groups and ids, as root, then drop root."""
    status = _read(f"/proc/{peer_pid}/status")
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    uids = [int(x) for x in fields["Uid"].split()]
    if set(uids) != {uid}:
        raise RequestError("the requesting process changed identity")
    groups = [int(x) for x in fields.get("Groups", "").split()]
    cgroups = _read(f"/proc/{peer_pid}/cgroup")
    limits = _peer_limits(peer_pid)
    # Everything above must describe the process that connected: if that one has
    # exited meanwhile (its pid perhaps reused), its pidfd has become readable.
    if _exited(pidfd):
        raise RequestError("the requesting process exited")
    _join_cgroups(cgroups)
    import resource

    for which, (soft, hard) in limits.items():
        # Without CAP_SYS_RESOURCE (containers) a hard limit can only go down: the
        # kernel never gets more than the template has, nor more than the student.
        _mine, my_hard = resource.getrlimit(which)
        hard = _lower(hard, my_hard)
        resource.setrlimit(which, (_lower(soft, hard), hard))
    os.setgroups(groups)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise RequestError("could not take the student's ids")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise RequestError("could still become root after dropping privileges")
    _set_dumpable()


_LIMIT_NAMES = {
    "RLIMIT_NPROC": "Max processes",
    "RLIMIT_FSIZE": "Max file size",
    "RLIMIT_AS": "Max address space",
    "RLIMIT_DATA": "Max data size",
    "RLIMIT_NOFILE": "Max open files",
    "RLIMIT_CORE": "Max core file size",
}


def _peer_limits(pid: int) -> dict[int, tuple[int, int]]:
    """The peer's rlimits: prlimit(2), or /proc/<pid>/limits where prlimit needs the
    CAP_SYS_RESOURCE that a container's root may lack."""
    import resource

    try:
        return {
            getattr(resource, name): resource.prlimit(pid, getattr(resource, name))
            for name in RLIMITS
        }
    except PermissionError:
        pass
    rows = {}
    for line in _read(f"/proc/{pid}/limits").splitlines()[1:]:
        label = line[:26].strip()
        values = line[26:].split()
        if len(values) >= 2:
            rows[label] = tuple(_limit_value(v) for v in values[:2])
    limits = {}
    for name in RLIMITS:
        if _LIMIT_NAMES[name] not in rows:
            raise RequestError(f"cannot read the requesting process's {name}")
        limits[getattr(resource, name)] = rows[_LIMIT_NAMES[name]]
    return limits  # type: ignore[return-value]


def _limit_value(text: str) -> int:
    import resource

    return resource.RLIM_INFINITY if text == "unlimited" else int(text)


def _lower(a: int, b: int) -> int:
    import resource

    if a == resource.RLIM_INFINITY:
        return b
    if b == resource.RLIM_INFINITY:
        return a
    return min(a, b)


def _set_dumpable() -> None:
    """A cold kernel, being exec'd, is dumpable: its owner may inspect and debug it
    (and read its /proc files), others may not. A setuid without exec clears that."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE, SUID_DUMP_USER
    except (OSError, AttributeError):
        pass


def _exited(pidfd: int) -> bool:
    import select

    readable, _, _ = select.select([pidfd], [], [], 0)
    return bool(readable)


def _join_cgroups(text: str) -> None:
    """Put this process into the peer's cgroups (v2 and v1), where they differ from ours."""
    mine = _cgroup_paths(_read("/proc/self/cgroup"))
    mounts = _cgroup_mounts()
    for hierarchy, path in _cgroup_paths(text).items():
        if mine.get(hierarchy) == path:
            continue
        mount = mounts.get(hierarchy)
        if mount is None:
            raise RequestError(f"cgroup hierarchy {hierarchy or 'v2'} is not mounted here")
        target = os.path.join(mount, path.lstrip("/"), "cgroup.procs")
        with open(target, "w") as procs:
            procs.write(str(os.getpid()))


def _cgroup_paths(text: str) -> dict[str, str]:
    """hierarchy (sorted controllers, or '' for v2) -> path."""
    paths = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths[",".join(sorted(c for c in parts[1].split(",") if c))] = parts[2]
    return paths


def _cgroup_mounts() -> dict[str, str]:
    mounts: dict[str, str] = {}
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fstype, _source, options = (right.split() + ["", "", ""])[:3]
        mount_point = left.split()[4]
        if fstype == "cgroup2":
            mounts.setdefault("", mount_point)
        elif fstype == "cgroup":
            known = {"rw", "ro", "nosuid", "nodev", "noexec", "relatime", "clone_children"}
            controllers = [o for o in options.split(",") if o not in known and "=" not in o]
            controllers += [o for o in options.split(",") if o.startswith("name=")]
            mounts.setdefault(",".join(sorted(controllers)), mount_point)
    return mounts


def _check(
    request: Any, fds: list[int], python: str
) -> tuple[list[str], dict[str, str], str]:
    if not isinstance(request, dict):
        raise RequestError("the request must be a JSON object")
    argv, env, cwd = request.get("argv"), request.get("env"), request.get("cwd")
    if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
        raise RequestError("argv must be a list of strings")
    if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
        raise RequestError("env must map names to strings")
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        raise RequestError("cwd must be an absolute path")
    if len(argv) < 5 or argv[1:4] != ["-m", "ipykernel_launcher", "-f"]:
        raise RequestError("only `python -m ipykernel_launcher -f FILE ...` is forked")
    if os.path.abspath(argv[0]) != python:
        raise RequestError(f"this template runs {python}, not {argv[0]}")
    if len(fds) > 2:
        raise RequestError("at most two descriptors (stdout, stderr)")
    return argv, {str(k): v for k, v in env.items()}, cwd


def _redirect(fds: list[int]) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    out = fds[0] if fds else null
    err = fds[1] if len(fds) > 1 else out
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in {null, *fds}:
        os.close(fd)


def _close_inherited(keep: set[int]) -> None:
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = soft if 0 < soft < (1 << 20) else 65536
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, top)


def _watch_peer(pidfd: int) -> None:
    """Exit when the student's server exits, as ipykernel's parent poller makes a cold
    kernel do (here the parent is the template, so that poller is switched off)."""

    def watch() -> None:
        import select

        select.select([pidfd], [], [])
        print("The kernel's server exited: shutting down.", file=sys.stderr, flush=True)
        os._exit(1)

    threading.Thread(target=watch, name="server-watch", daemon=True).start()


def _run_kernel(argv: list[str], env: dict[str, str], template: Template) -> int:
    os.environ.clear()
    os.environ.update(env)
    _enter_environment(template.env, template.own_paths)
    _student_paths(env)
    from ipykernel import kernelapp

    launcher = sys.modules.get("ipykernel_launcher")
    sys.argv = [getattr(launcher, "__file__", "ipykernel_launcher"), *argv[3:]]
    try:
        # JPY_PARENT_PID stays in the environment as for a cold kernel, but ipykernel's
        # parent poller would watch the template (_watch_peer watches the server).
        # 1 is the value it skips polling for; 0 would also print connection notes
        # into the server's log as for a kernel started by hand.
        kernelapp.launch_new_instance(argv=[*sys.argv[1:], "--IPKernelApp.parent_handle=1"])
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    import atexit

    atexit._run_exitfuncs()  # what a normal interpreter exit would run
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _enter_environment(env: CourseEnv, own_paths: list[str]) -> None:
    """Leave coursehub's environment for the course's, as a cold kernel started by the
    course environment's Python would be: its site-packages (whose .pth files run here,
    as the student, never in the template) and its interpreter's name."""
    import importlib
    import site

    sys.path[:] = [p for p in sys.path if p not in own_paths]
    sys.prefix = sys.exec_prefix = env.root
    sys.executable = env.python
    site.PREFIXES[:] = [env.root]
    site.ENABLE_USER_SITE = False  # a course venv has none (user site: _student_paths)
    site.addsitedir(env.site)
    importlib.invalidate_caches()


def _student_paths(env: dict[str, str]) -> None:
    """sys.path as a cold `python -m ipykernel_launcher` under the student's account and
    environment would have it: PYTHONPATH first, then the student's user site (only
    where the interpreter enables user sites at all; a course venv does not)."""
    import site

    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[0:0] = [os.path.abspath(p) for p in extra]
    if not site.ENABLE_USER_SITE or env.get("PYTHONNOUSERSITE"):
        site.ENABLE_USER_SITE = False if env.get("PYTHONNOUSERSITE") else site.ENABLE_USER_SITE
        return
    import pwd

    home = env.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir
    base = env.get("PYTHONUSERBASE") or os.path.join(home, ".local")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site.USER_BASE = base
    site.USER_SITE = os.path.join(base, "lib", version, "site-packages")
    if os.path.isdir(site.USER_SITE):
        site.addsitedir(site.USER_SITE)


def _read(path: str) -> str:
    with open(path) as file:
        return file.read()


# --- start-up --------------------------------------------------------------------------------


def preload(
    env: CourseEnv, skip: list[str]
) -> tuple[list[str], dict[str, str], tuple[str, set[str]] | None]:
    """Import, from coursehub's environment, what a kernel of `env` would import from
    its own, group by group, where the course has the same versions; return what was
    imported, what was not (and why), and a group that turned out to load a
    distribution the course lacks at that version (the template must start afresh
    without it: what is imported cannot be taken back)."""
    import importlib

    # As coursehub.student.singleuser does: jsonschema's optional rfc3987 grammar costs seconds.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    ours = our_versions()
    theirs = course_versions(env.site)
    same = {name for name, version in ours.items() if theirs.get(name) == version}
    own = template_paths()
    done: list[str] = []
    failed: dict[str, str] = {}
    for group, names in PRELOAD_GROUPS.items():
        lead = LEADS[group]
        if group in skip:
            failed[group] = "loads packages the course environment has at other versions"
            continue
        if lead not in same:
            failed[group] = (
                f"the course environment has {lead} {theirs.get(lead, '(none)')}, "
                f"coursehub {ours.get(lead, '(none)')}"
            )
            continue
        before = set(sys.modules)
        for name in names:
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - optional pieces (debugpy) may be missing
                failed[name] = f"{type(exc).__name__}: {exc}"
            else:
                done.append(name)
        if group == "kernel":
            with contextlib.suppress(ImportError):
                import ipykernel_launcher  # noqa: F401 - for its __file__ (the kernel's argv[0])
        loaded = _distributions_of([m for m in sys.modules if m not in before], own)
        foreign = {d for dists in loaded.values() for d in dists if d not in same}
        if foreign:
            return done, failed, (group, foreign)
    # Objects made so far are never collected in the children, so their pages stay
    # shared copy-on-write with the template.
    gc.collect()
    gc.freeze()
    return done, failed, None


def main(argv: list[str] | None = None) -> int:
    import argparse

    # Run by path, Python put this file's folder first on sys.path: kernels must not
    # import coursehub's modules (or anything else there) by accident.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    given = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="kernel_template.py")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--env", required=True, help="the course environment's folder")
    parser.add_argument("--env-stamp", default="")
    parser.add_argument("--skip", action="append", default=[], help="a group not to preload")
    args = parser.parse_args(given)
    os.umask(0o022)
    os.chdir("/")
    env = CourseEnv(args.env)
    mismatch = env.mismatch()
    if mismatch is not None:
        log(f"every fork is refused (kernels start cold): {mismatch}")
        done: list[str] = []
        failed: dict[str, str] = {}
        bad = None
    else:
        done, failed, bad = preload(env, args.skip)
    if bad is not None:
        group, foreign = bad
        log(f"preloading {group} loaded {sorted(foreign)}, not in the course environment at "
            "these versions: starting again without it")
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), *given,
                                  "--skip", group])  # fmt: skip
    for name, reason in failed.items():
        log(f"not preloaded: {name}: {reason}")
    template = Template(args.socket, args.env_stamp, env, done, failed)
    if threading.active_count() != 1:
        names = [t.name for t in threading.enumerate()]
        log(f"an import started threads {names}: every fork is refused (kernels start cold)")
    template.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
