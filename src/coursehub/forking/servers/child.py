"""What a forked child does to become one student's server.

Runs in the child right after the template's fork, as root: read the request from
the hub, take the student's limits, cgroup, groups and identity, a new session, a
clean environment and working directory, then run the normal single-user server
with the hub's arguments. It never returns to the template's code: every way out
ends in os._exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import resource
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from coursehub.engines.limits import Limits, apply_in_child
from coursehub.forking.protocol import recv_frame, send_frame

SETUP_FAILED = 70  # EX_SOFTWARE: the child could not become the student's server
_FIELDS = {
    "argv": list,
    "env": dict,
    "cwd": str,
    "uid": int,
    "gid": int,
    "groups": list,
    "umask": int,
    "home": str,
    "cgroup_procs": list,
    "limits": dict,
}


class RequestError(Exception):
    """The hub's request is not one the child can carry out."""


def run(conn: socket.socket, inherited: list[Any]) -> None:
    """Become the server described by the request on `conn`; never returns."""
    code = SETUP_FAILED
    try:
        for thing in inherited:  # the template's socket and selector: not ours to keep
            thing.close()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()  # signals to the hub's or the template's group never reach it
        send_frame(conn, {"pid": os.getpid()})
        request, fds = recv_frame(conn, max_fds=1)
        try:
            _check(request, fds)
            _become(request, fds[0])
        except Exception as exc:  # noqa: BLE001 - told to the hub, which starts it cold
            send_frame(conn, {"error": f"{type(exc).__name__}: {exc}"})
            raise
        send_frame(conn, {"ok": True})
        conn.close()
        os.closerange(3, _max_fd())  # nothing of the template's stays open
        code = _serve(request["argv"])
    except BaseException:  # noqa: BLE001 - the reason goes to the server's log
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # exiting whatever happens
                stream.flush()
        os._exit(code)


def _check(request: dict[str, Any], fds: list[int]) -> None:
    for key, kind in _FIELDS.items():
        if not isinstance(request.get(key), kind):
            raise RequestError(f"{key} missing or not a {kind.__name__}")
    if len(fds) != 1:
        raise RequestError("the request must come with the server's log file")
    if request["uid"] == 0 and os.geteuid() == 0:
        raise RequestError("a student server never runs as root")
    if not all(isinstance(a, str) for a in request["argv"]):
        raise RequestError("argv must be strings")


def _become(request: dict[str, Any], log_fd: int) -> None:
    """Everything a cold start's Popen + preexec does, in the same order."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null)
    os.close(log_fd)
    wanted = request["limits"]
    limits = Limits(file_size=wanted.get("file_size"), processes=wanted.get("processes"))
    procs = [Path(p) for p in request["cgroup_procs"]]
    apply_in_child(procs, limits, bool(wanted.get("set_nproc")))
    uid, gid = request["uid"], request["gid"]
    if os.geteuid() == 0:
        os.setgroups(request["groups"])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        try:
            os.setuid(0)
        except PermissionError:
            pass
        else:
            raise RequestError("could still become root after dropping privileges")
    elif uid != os.getuid():
        raise RequestError("a template that is not root can only start its own servers")
    os.umask(request["umask"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in request["env"].items()})
    _no_user_site()


def _no_user_site() -> None:
    """No user site in the server, as for a cold start (PYTHONNOUSERSITE): not the
    template's (root's), and never the student's, whose .pth files would run here
    (student/lockdown.py; the server's kernels get the student's own)."""
    import site

    ours = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    if ours and ours in sys.path:
        sys.path.remove(ours)
    site.ENABLE_USER_SITE = False


def _serve(argv: list[str]) -> int:
    from coursehub.student.singleuser import main

    sys.argv = ["jupyterhub-singleuser", *argv]
    try:
        from setproctitle import setproctitle

        # ps and top show a server, as for a cold start, not another template
        setproctitle(" ".join([sys.executable, "-m", "coursehub.student.singleuser", *argv]))
    except ImportError:
        pass
    try:
        main()
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    atexit._run_exitfuncs()  # what a normal interpreter exit would run
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _max_fd() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 65536
