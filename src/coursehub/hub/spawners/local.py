"""Spawners for one machine: a Unix account per student, or a labelled demo mode.

Both queue their starts (see start_queue) and return only once the server
answers, so a burst of logins waits on a progress page instead of timing out.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Float, Integer, Unicode

from coursehub.config.layout import DataLayout
from coursehub.core import safe_dirs
from coursehub.core.roles import role_from_groups
from coursehub.courses.servers import CourseAccessError, CourseServer, resolve_course_server
from coursehub.engines.limits import (
    Cgroups,
    Limits,
    apply_in_child,
    systemd_adopt_command,
    systemd_is_init,
    systemd_run_prefix,
)
from coursehub.forking.servers.manager import TemplateUnavailable, server_template
from coursehub.hub.spawners import unix_accounts
from coursehub.hub.spawners.default_server import CoursesInsteadOfDefaultServer
from coursehub.hub.spawners.hooks import Hook, HookContext, HookError, UnsafeHooksError, run_hooks
from coursehub.hub.spawners.process_state import ProcessGone, process_start_time
from coursehub.hub.spawners.spawn_page import spawn_page_error
from coursehub.hub.spawners.start_queue import Ticket, shared_queue
from coursehub.student.jupyter_config import CONFIG_DIR as SERVER_CONFIG_DIR
from coursehub.student.lockdown import SERVER_ENV

LOG_TAIL_LINES = 5
# Loaded by course servers (student/kernelspecs.py); named, not imported, here.
COURSE_KERNELSPECS = "coursehub.student.kernelspecs.CourseKernelSpecManager"
_course_stores: dict[tuple[str, str], Any] = {}


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# What a cold start's Popen would hand the server; read once, while single-threaded.
HUB_UMASK = _current_umask()


class CoursehubSpawner(CoursesInsteadOfDefaultServer, LocalProcessSpawner):
    """What both backends share: the start queue, readiness wait, limits and logs."""

    concurrent_starts = Integer(
        2, config=True, help="Servers starting at once; later starts wait in a queue."
    )
    ready_timeout = Integer(
        120, config=True, help="Seconds a started server has to answer its first request."
    )
    process_limit = Integer(0, config=True, help="Most processes per student (0: none).")
    file_size_limit = Integer(0, config=True, help="Largest file a student may write (0: none).")
    log_dir = Unicode("", config=True, help="Directory for one log file per student server.")
    home_root = Unicode("/home", config=True, help="Where student homes are.")
    coursehub_db_url = Unicode("", config=True, help="coursehub database URL.")
    data_dir = Unicode("", config=True, help="coursehub data directory (course files).")
    hooks_dir = Unicode(
        "",
        config=True,
        help="Start-up hooks folder (site/ and <course>/ as-root and as-user); empty: none.",
    )
    hooks_timeout = Float(60, config=True, help="Seconds one start-up hook may run.")
    start_method = Unicode(
        "forked",
        config=True,
        help="forked: fork servers from a template that has imported the server stack "
        "(cold start whenever it is not available); cold: a new interpreter per server.",
    )
    template_socket = Unicode("", config=True, help="The server template's socket.")
    template_log = Unicode("", config=True, help="The server template's log file.")

    # Traits of JupyterHub's Spawner (a package without types) that this class sets
    cmd: list[str]
    port: int

    _ticket: Ticket | None = None
    _phase: str = "idle"
    _abandoned: bool = False
    _procs_files: list[Path] | None = None
    _via_systemd: bool = False
    _base_cmd: list[str] | None = None
    _course: CourseServer | None = None
    _hook: Hook | None = None
    _hooks_task: asyncio.Task | None = None
    _pid_start: int | None = None  # the forked server's start time, against pid reuse
    started_from: str = ""  # "template" or "cold": how the running server started

    # --- what each backend decides -------------------------------------------------

    @property
    def system_username(self) -> str:
        raise NotImplementedError

    @property
    def home_dir(self) -> str:
        raise NotImplementedError

    async def prepare_account(self) -> None:
        raise NotImplementedError

    def make_workspace(self, path: Path) -> None:
        """Create a course workspace owned by the student (runs as root)."""
        path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def switch_user(self) -> Callable[[], None] | None:
        """A preexec step that drops privileges, or None to stay as we are."""
        return None

    def systemd_prefix(self) -> list[str] | None:
        """A systemd-run command that sets limits and switches user, where systemd
        is PID 1; None to use cgroup files and a preexec switch instead."""
        return None

    @property
    def server_account(self) -> str:
        """The Unix account the server (and the as-user hooks) run as."""
        return self.system_username

    # --- shared behaviour ------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return Limits(
            memory=self.mem_limit or None,
            cpu=self.cpu_limit or None,
            processes=self.process_limit or None,
            file_size=self.file_size_limit or None,
        )

    @property
    def unit_name(self) -> str:
        suffix = f"-{self.name}" if self.name else ""
        return f"{self.system_username}{suffix}"

    def make_preexec_fn(self, name: str) -> Callable[[], None]:
        procs_files = self._procs_files or []
        limits = self.limits
        via_systemd = self._via_systemd
        switch = None if via_systemd else self.switch_user()
        set_nproc = switch is not None or via_systemd
        # A course server starts in its course workspace, anything else at home.
        workdir = str(self._course.workspace) if self._course else self.home_dir

        def preexec() -> None:
            apply_in_child(procs_files, limits, set_nproc)
            if switch is not None:
                switch()
            os.chdir(workdir)

        return preexec

    def fork_identity(self) -> tuple[int, int, list[int]]:
        """uid, gid and supplementary groups of the server's account."""
        uid, gid = os.getuid(), os.getgid()
        return uid, gid, os.getgroups()

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env["USER"] = self.system_username
        env["HOME"] = self.home_dir
        env["SHELL"] = "/bin/bash"
        return env

    def _course_store(self) -> Any:
        # One store (and connection pool) for the whole hub, not one per spawner.
        key = (self.coursehub_db_url, self.data_dir)
        store = _course_stores.get(key)
        if store is None:
            from coursehub.courses.store import CourseStore
            from coursehub.db.session import Database

            store = _course_stores[key] = CourseStore(Database(key[0]), self.layout)
        return store

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir))

    def _site_role(self) -> str:
        groups = [g.name for g in getattr(self.user, "groups", [])]
        return role_from_groups(groups, admin=bool(self.user.admin))

    def _resolve_course(self) -> CourseServer | None:
        """Named servers are course servers: check access before queueing."""
        if not self.name:
            return None
        return resolve_course_server(
            self._course_store(),
            self.layout,
            self.user.name,
            self._site_role(),
            self.name,
            Path(self.home_dir),
        )

    def get_args(self) -> list[str]:
        args = list(super().get_args())  # a copy: JupyterHub's is the trait's own list
        course = self._course
        if course is not None and course.kernel and course.jupyter_path is not None:
            # The course's kernel answers for python3 and the names its notebooks use.
            spec_dir = course.jupyter_path / "kernels" / course.kernel
            args += [
                f"--ServerApp.kernel_spec_manager_class={COURSE_KERNELSPECS}",
                f"--CourseKernelSpecManager.course_kernel_dir={spec_dir}",
            ]
        return args

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        # nothing from the student's home runs in the server, whatever the site's
        # Spawner.environment says (student/lockdown.py)
        env.update(SERVER_ENV)
        # coursehub's own server settings (frame-ancestors, ...); the student's are off.
        env["JUPYTER_CONFIG_PATH"] = str(SERVER_CONFIG_DIR)
        course = self._course
        if course is not None:
            env["COURSEHUB_COURSE"] = course.course
            # where the server's workspace extension finds the course (student/workspace)
            env["COURSEHUB_COURSE_DIR"] = str(self.layout.course_repo(course.course))
            if course.jupyter_path is not None:
                env["JUPYTER_PATH"] = str(course.jupyter_path)
        return env

    async def start(self) -> tuple[str, int]:
        self._abandoned = False
        try:
            self._course = await asyncio.to_thread(self._resolve_course)
        except CourseAccessError as exc:
            shown = f"You cannot start this server: {exc}."
            raise spawn_page_error(403, str(exc), shown) from None
        queue = shared_queue(self.concurrent_starts)
        self._ticket = Ticket(self.user.name)
        self._phase = "queued"
        try:
            async with queue.slot(self._ticket):
                if self._abandoned:
                    raise RuntimeError("start abandoned while waiting in the queue")
                self._phase = "preparing"
                await self.prepare_account()
                if self._course is not None:
                    try:
                        await asyncio.to_thread(self.make_workspace, self._course.workspace)
                    except safe_dirs.UnsafePathError as exc:
                        shown = f"Your course folder could not be prepared: {exc}"
                        raise spawn_page_error(409, str(exc), shown) from None
                    self.notebook_dir = str(self._course.workspace)
                if self.hooks_dir:
                    self._phase = "hooks"
                    await self._run_hooks()
                if self._base_cmd is None:
                    self._base_cmd = list(self.cmd)
                prefix = self.systemd_prefix()
                self._via_systemd = prefix is not None
                self.cmd = [*(prefix or []), *self._base_cmd]
                self._procs_files = [] if prefix else await asyncio.to_thread(self._prepare_cgroups)
                self._phase = "launching"
                log = self._open_log()
                self.popen_kwargs = {"stdout": log, "stderr": subprocess.STDOUT}
                try:
                    ip, port = await self._launch(log)
                finally:
                    log.close()
                self._phase = "waiting"
                await self._wait_ready(ip, port)
        finally:
            self._ticket = None
        self._phase = "ready"
        return ip, port

    async def _launch(self, log: Any) -> tuple[str, int]:
        """Fork from the template when we can, else a cold start."""
        reason = self._why_cold()
        if reason is None:
            try:
                return await self._start_forked(log)
            except TemplateUnavailable as exc:
                reason = str(exc)
        if self.start_method == "forked":
            self.log.info("Cold start for %s: %s", self._log_name, reason)
        self.started_from = "cold"
        self._pid_start = None
        return await super().start()

    def _template(self) -> Any:
        return server_template(Path(self.template_socket), self.cmd[-3], Path(self.template_log))

    def _why_cold(self) -> str | None:
        if self.start_method != "forked":
            return "cold starts are configured"
        if not self.template_socket:
            return "no template socket configured"
        if self.shell_cmd or self.cmd[-2:] != ["-m", "coursehub.student.singleuser"]:
            return "the server command is not coursehub's"
        return None

    async def _start_forked(self, log: Any) -> tuple[str, int]:
        if self.port == 0:
            from jupyterhub.utils import random_port

            self.port = random_port()
        env = self.get_env()
        uid, gid, groups = self.fork_identity()
        limits = self.limits
        request = {
            "argv": self.get_args(),
            "env": env,
            "cwd": str(self._course.workspace) if self._course else self.home_dir,
            "uid": uid,
            "gid": gid,
            "groups": groups,
            "umask": HUB_UMASK,
            "home": self.home_dir,
            "cgroup_procs": [str(p) for p in self._procs_files or []],
            "limits": {
                "file_size": limits.file_size,
                "processes": limits.processes,
                # as for a cold start: a cap per real uid only when it is the student's
                "set_nproc": self.switch_user() is not None,
            },
        }
        place = self._into_systemd_scope if self._via_systemd else None
        pid = await asyncio.to_thread(self._template().fork, request, log.fileno(), place=place)
        self.proc = None
        self.pid = pid
        self.started_from = "template"
        try:
            self._pid_start = process_start_time(pid)
        except ProcessGone:
            self._pid_start = None  # already gone: _wait_ready reports it with its log
        self.log.info("Forked %s from the server template (pid %d)", self._log_name, pid)
        return (self.ip or "127.0.0.1", self.port)

    def _into_systemd_scope(self, pid: int) -> None:
        """Where systemd is PID 1 it owns the cgroups: it makes the server's scope, with
        the limits, around the forked child before the child runs anything."""
        scope = f"coursehub-{self.unit_name}.scope"
        done = subprocess.run(
            systemd_adopt_command(self.unit_name, self.limits, pid),
            capture_output=True,
            text=True,
            timeout=10,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip() or f"busctl exited {done.returncode}")
        deadline = time.monotonic() + 5
        while scope not in Path(f"/proc/{pid}/cgroup").read_text():
            if time.monotonic() > deadline:
                raise RuntimeError(f"systemd did not move the server into {scope}")
            time.sleep(0.02)

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._pid_start = state.get("pid_start")

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.pid and self._pid_start:
            state["pid_start"] = self._pid_start
        return state

    def clear_state(self) -> None:
        super().clear_state()
        self._pid_start = None

    async def poll(self) -> int | None:
        """As LocalProcessSpawner, but a process that is not our child (forked by the
        template, or running across a hub restart) counts as gone once it is a zombie
        or its pid belongs to another process."""
        if self.proc is not None or not self.pid:
            return await super().poll()
        try:
            start = process_start_time(self.pid)
        except ProcessGone:
            start = None
        if start is None or (self._pid_start is not None and start != self._pid_start):
            self.clear_state()
            return 0
        return None

    async def stop(self, now: bool = False) -> None:
        self._abandoned = True
        if self._hooks_task is not None:
            # a stop during the hooks ends them (and what they started) at once
            self._hooks_task.cancel()
        await super().stop(now=now)
        await asyncio.to_thread(Cgroups().remove, self.unit_name)

    async def _run_hooks(self) -> None:
        """site/ then <course>/ hooks, as root then as the student (hooks.py)."""
        course = self._course
        home = Path(self.home_dir)
        context = HookContext(
            user=self.user.name,
            course=course.course if course else "",
            home=home,
            workspace=course.workspace if course else home,
            unix_user=self.server_account,
        )
        suffix = f"-{context.course}" if context.course else ""
        log_file = self.layout.logs / "hooks" / f"{self.user.name}{suffix}.log"

        def running(hook: Hook) -> None:
            self._hook = hook

        self._hooks_task = asyncio.ensure_future(
            run_hooks(
                Path(self.hooks_dir),
                context,
                self.hooks_timeout,
                log_file,
                self.switch_user(),
                on_hook=running,
            )
        )
        try:
            await self._hooks_task
        except HookError as exc:
            if isinstance(exc, UnsafeHooksError):
                self.log.error("Start-up hooks for %s refused: %s", self._log_name, exc)
                reason = f"Start-up scripts refused: {exc}. Ask the site's admins."
            else:
                self.log.warning(
                    "Start-up hook for %s failed: %s (log: %s)", self._log_name, exc, log_file
                )
                reason = str(exc)
            raise spawn_page_error(500, reason, reason) from exc
        finally:
            self._hook = None
            self._hooks_task = None

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Queue position and start phase, shown on the hub's progress page."""
        last = None
        while self._phase not in ("ready", "idle"):
            message, percent = self._progress_message()
            if message != last:
                last = message
                yield {"progress": percent, "message": message}
            await asyncio.sleep(0.5)

    def _progress_message(self) -> tuple[str, int]:
        if self._phase == "queued" and self._ticket is not None:
            queue = shared_queue(self.concurrent_starts)
            position = queue.position(self._ticket)
            if position:
                ahead = position - 1
                who = "nobody" if ahead == 0 else f"{ahead} student{'s' * (ahead != 1)}"
                return f"Many students are starting at once: {who} ahead of you.", 10
        if self._phase == "hooks" and self._hook is not None:
            whose = "site's" if self._hook.scope == "site" else "course's"
            return f"Running the {whose} start-up script", 40
        return {
            "preparing": ("Preparing your workspace", 30),
            "launching": ("Starting your server", 50),
            "waiting": ("Waiting for your server to answer", 70),
        }.get(self._phase, ("Starting", 20))

    def _prepare_cgroups(self) -> list[Path]:
        try:
            return Cgroups().prepare(self.unit_name, self.limits)
        except OSError as exc:
            self.log.warning("Resource limits for %s not enforced: %s", self.unit_name, exc)
            return []

    def _log_path(self) -> Path:
        suffix = f"-{self.name}" if self.name else ""
        return Path(self.log_dir) / f"{self.user.name}{suffix}.log"

    def _open_log(self) -> Any:
        path = self._log_path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fh = open(path, "ab", buffering=0)  # noqa: SIM115 - handed to the child
        os.chmod(path, 0o600)
        fh.write(f"--- server start {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        return fh

    def _log_tail(self) -> str:
        try:
            lines = self._log_path().read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in lines[-LOG_TAIL_LINES:])

    async def _wait_ready(self, ip: str, port: int) -> None:
        base = self.server.base_url if self.server else f"/user/{self.user.name}/"
        url = f"http://{ip}:{port}{base}api"
        deadline = time.monotonic() + self.ready_timeout
        # Plain http on loopback: verify=False skips loading the CA bundle (~50 ms of
        # hub CPU per start, on the event loop, when the whole class starts at once).
        # A forked server answers within a few tenths of a second: look often at
        # first, then every 0.2 s, as for a cold start that takes seconds.
        pause = 0.02
        async with httpx.AsyncClient(timeout=5, verify=False) as client:
            while time.monotonic() < deadline:
                code = await self._exit_code_if_gone()
                if code is not None:
                    raise RuntimeError(
                        f"your server stopped while starting (exit code {code}). "
                        f"Last log lines: {self._log_tail()}"
                    )
                try:
                    response = await client.get(url)
                    if response.status_code < 500:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(pause)
                pause = min(pause * 1.5, 0.2)
        raise TimeoutError(f"your server did not answer within {self.ready_timeout} s")

    async def _exit_code_if_gone(self) -> int | str | None:
        """The exit code of a server that stopped while starting ("unknown" when the
        template did not see it), None while it runs."""
        if self.proc is not None:
            return self.proc.poll()
        if not self.pid:
            return None
        pid = self.pid
        try:
            process_start_time(pid)
        except ProcessGone:
            code = await asyncio.to_thread(self._template().exit_code, pid)
            return "unknown" if code is None else code
        return None


class CoursehubLocalSpawner(CoursehubSpawner):
    """Each student is a real Unix account with a private home; needs root."""

    user_prefix = Unicode("ch-", config=True, help="Prefix of student Unix account names.")
    login_shell = Unicode("/bin/bash", config=True, help="Shell of student accounts.")

    @property
    def system_username(self) -> str:
        return unix_accounts.system_username(self.user_prefix, self.user.name)

    @property
    def home_dir(self) -> str:
        entry = unix_accounts.lookup(self.system_username)
        return entry.pw_dir if entry else str(Path(self.home_root) / self.system_username)

    async def prepare_account(self) -> None:
        await unix_accounts.ensure_unix_account(
            self.system_username, Path(self.home_root), self.login_shell
        )

    def switch_user(self) -> Callable[[], None]:
        return set_user_setuid(self.system_username)

    def fork_identity(self) -> tuple[int, int, list[int]]:
        entry = pwd.getpwnam(self.system_username)
        return entry.pw_uid, entry.pw_gid, os.getgrouplist(entry.pw_name, entry.pw_gid)

    def make_workspace(self, path: Path) -> None:
        entry = unix_accounts.lookup(self.system_username)
        if entry is None:
            raise RuntimeError(f"no Unix account {self.system_username}")
        # Each missing level (~/courses, ~/courses/<c>) is made by root and handed to
        # the student. The student owns the home and may swap any name in it for a
        # link at any moment: walk it by descriptors, from the home (its folder is
        # root's), never following a link.
        home = Path(entry.pw_dir)
        owner = (entry.pw_uid, entry.pw_gid)
        os.close(safe_dirs.make_dirs_below(home, safe_dirs.parts_below(home, path), 0o700, owner))

    def systemd_prefix(self) -> list[str] | None:
        if not systemd_is_init():
            return None
        entry = unix_accounts.lookup(self.system_username)
        if entry is None:
            return None
        return systemd_run_prefix(self.unit_name, self.limits, entry.pw_uid, entry.pw_gid)

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env = super().user_env(env)
        env["SHELL"] = self.login_shell
        return env


class CoursehubDemoSpawner(CoursehubSpawner):
    """DEMO ONLY: every server runs as the account running coursehub.

    Students can read and change each other's files. Used automatically when
    coursehub is not run as root, and announced loudly when it is.
    """

    @property
    def system_username(self) -> str:
        return self.user.name

    @property
    def home_dir(self) -> str:
        return str(Path(self.home_root) / self.user.name)

    @property
    def server_account(self) -> str:
        # Servers and as-user hooks both run as the hub's own (service) account.
        return pwd.getpwuid(os.geteuid()).pw_name

    async def prepare_account(self) -> None:
        Path(self.home_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
