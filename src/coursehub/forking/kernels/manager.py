"""The hub side of fast kernel starts: one kernel template per built course environment.

A kernel template (forking/kernels/template.py, run by path with coursehub's own Python,
never the course environment's: nothing an instructor installs may run as root) has
imported ipykernel once and forks each student's kernel, which enters the course
environment only once it is the student; students' servers reach it through the
``coursehub-forked`` kernel provisioner named in the course's kernelspec, and start
kernels cold whenever it is not there.

For the hub (root):

- ``KernelTemplates(layout)`` — one per hub process.
- ``ensure(courses)`` — make the running templates match `courses` (names of courses;
  those without a built environment are skipped): start missing ones, restart dead
  ones (with a growing back-off for one that keeps dying), replace one whose
  environment was rebuilt, stop those of courses no longer listed. It never waits:
  a Popen and a few stat calls, so it can be called from the hub's event loop, e.g.
  at start-up and then every few seconds (a tornado PeriodicCallback).
  ``built_courses(layout)`` lists the courses that have a built environment.
- ``stop_all(timeout)`` — at shutdown; SIGTERM, then SIGKILL after `timeout` (blocks
  for at most that long). Kernels already forked keep running.
- ``status()`` — one dict per course for ``coursehub doctor`` (asks each template
  over its socket, 1 s at most each: call it from a thread or the CLI).

Sockets: ``<data>/kernel-templates/<course>.sock`` (folder 0711, socket 0666; the
template authenticates by SO_PEERCRED and serves only login accounts in its own
namespaces). Logs: ``<logs>/kernel-templates/<course>.log``
(0600).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coursehub.config.layout import DataLayout, python_command
from coursehub.courses.build import env_dir as course_env_dir
from coursehub.courses.environment import STAMP_NAME
from coursehub.courses.kernels import template_socket
from coursehub.forking.kernels import template as kernel_template
from coursehub.student.kernel_provisioner import template_status

SCRIPT = Path(kernel_template.__file__).resolve()
BACKOFF = 5.0  # seconds before restarting a template that died
MAX_BACKOFF = 300.0
STABLE_AFTER = 60.0  # a template that lived this long gets the short back-off again
CLEAN_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ")


def environment_stamp(env_dir: Path) -> str | None:
    """Changes with every build of the environment (None: not built)."""
    env_dir = Path(env_dir)
    try:
        stamp = (env_dir / STAMP_NAME).stat()
        generation = os.path.realpath(env_dir)
    except OSError:
        return None
    if not os.access(env_dir / "bin" / "python", os.X_OK):
        return None
    return f"{os.path.basename(generation)}:{stamp.st_mtime_ns}"


def built_courses(layout: DataLayout) -> list[str]:
    """Courses of the data directory whose environment is built."""
    if not layout.courses.is_dir():
        return []
    names = []
    for entry in sorted(layout.courses.iterdir()):
        if entry.name.startswith("."):
            continue
        with contextlib.suppress(ValueError):
            if environment_stamp(course_env_dir(layout, entry.name)) is not None:
                names.append(entry.name)
    return names


@dataclass
class _Template:
    course: str
    socket: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    stamp: str = ""
    started: float = 0.0
    restarts: int = 0
    backoff: float = BACKOFF
    last_exit: int | None = None
    history: list[str] = field(default_factory=list)


class KernelTemplates:
    """The kernel templates of one hub (see the module doc)."""

    def __init__(
        self,
        layout: DataLayout,
        *,
        script: Path = SCRIPT,
        backoff: float = BACKOFF,
        python: str | None = None,
    ):
        self.layout = layout
        self.script = Path(script)
        self.python = python or python_command()  # coursehub's, never a course's
        self.first_backoff = backoff
        self.templates: dict[str, _Template] = {}
        self._retiring: list[subprocess.Popen[bytes]] = []

    @property
    def log_dir(self) -> Path:
        return self.layout.logs / "kernel-templates"

    def ensure(self, courses: Iterable[str]) -> None:
        """Start, restart, replace and stop templates to match `courses`; never waits."""
        wanted = set(courses)
        self._reap_retiring()
        for course in sorted(set(self.templates) - wanted):
            self._retire(self.templates.pop(course), "the course is no longer served")
        now = time.monotonic()
        for course in sorted(wanted):
            try:
                env = course_env_dir(self.layout, course)
                socket = template_socket(self.layout.root, course)
            except ValueError:
                continue  # not a course name
            stamp = environment_stamp(env)
            template = self.templates.get(course)
            if stamp is None:  # not built (or removed): kernels start cold
                if template is not None:
                    self._retire(self.templates.pop(course), "the environment is gone")
                continue
            if template is None:
                template = self.templates[course] = _Template(
                    course, socket, self.log_dir / f"{course}.log", backoff=self.first_backoff
                )
            self._ensure_one(template, env, stamp, now)

    def _ensure_one(self, t: _Template, env: Path, stamp: str, now: float) -> None:
        if t.proc is not None and t.proc.poll() is None:
            if t.stamp == stamp:
                return
            self._retire(t, "the environment was rebuilt: replacing the template")
            t.backoff = self.first_backoff
        elif t.proc is not None:
            t.last_exit = t.proc.returncode
            if now - t.started < t.backoff:
                return  # restarted after the back-off, by a later ensure()
            lived = now - t.started
            self._note(t, f"the template exited (code {t.last_exit}): restarting it")
            t.backoff = (
                self.first_backoff if lived > STABLE_AFTER else min(t.backoff * 2, MAX_BACKOFF)
            )
            t.restarts += 1
            t.proc = None
        self._start(t, env, stamp, now)

    def _start(self, t: _Template, env: Path, stamp: str, now: float) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(t.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)
            # Only PATH and LANG: the hub's secrets must never be in the template's
            # memory, which every kernel starts as a copy of.
            clean = {k: os.environ[k] for k in CLEAN_ENV_KEYS if k in os.environ}
            clean.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
            cmd = [self.python, str(self.script), "--socket", str(t.socket)]
            cmd += ["--env", str(env), "--env-stamp", stamp]
            t.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                env=clean,
                cwd="/",
                start_new_session=True,  # Ctrl-C of `coursehub up` is for the hub
                close_fds=True,
            )
        except OSError as exc:
            self._note(t, f"could not start the template: {exc}")
            t.proc = None
        finally:
            os.close(fd)
        t.stamp = stamp
        t.started = now

    def _retire(self, t: _Template, why: str) -> None:
        proc, t.proc = t.proc, None
        if proc is None or proc.poll() is not None:
            return
        self._note(t, why)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        self._retiring.append(proc)  # reaped by a later ensure() or stop_all()

    def _reap_retiring(self) -> None:
        self._retiring = [p for p in self._retiring if p.poll() is None]

    def stop_all(self, timeout: float = 5.0) -> None:
        """Stop every template (blocks up to `timeout`, then kills); kernels go on."""
        for t in self.templates.values():
            self._retire(t, "the hub is stopping")
        deadline = time.monotonic() + timeout
        for proc in self._retiring:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._retiring = []

    def status(self) -> list[dict[str, Any]]:
        """Per course: the process, its environment stamp and the template's answer."""
        rows = []
        for course, t in sorted(self.templates.items()):
            running = t.proc is not None and t.proc.poll() is None
            current = environment_stamp(course_env_dir(self.layout, course))
            answer = template_status(str(t.socket), timeout=1.0) if running else None
            rows.append(
                {
                    "course": course,
                    "pid": t.proc.pid if running and t.proc is not None else None,
                    "running": running,
                    "answering": answer is not None,
                    "env_stamp": t.stamp,
                    "current": running and t.stamp == current,
                    "restarts": t.restarts,
                    "last_exit": t.last_exit,
                    "socket": str(t.socket),
                    "log": str(t.log),
                    "forks": answer.get("forks") if answer else None,
                    "children": answer.get("children") if answer else None,
                    "threads": answer.get("threads") if answer else None,
                    "not_preloaded": sorted(answer.get("failed", {})) if answer else None,
                }
            )
        return rows

    def _note(self, t: _Template, message: str) -> None:
        t.history = [*t.history[-19:], message]
        with contextlib.suppress(OSError), open(t.log, "a") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} hub: {message}\n")
