"""A (student x course) server as a Slurm job running as the student's Unix account.

Everything before the launch is the local backend's: the account, the course
workspace, the enrolment check, the start-up hooks, the start queue. The launch is
an sbatch as the student; the job's starter (coursehub.student.slurm_job) picks a port on
its node and writes it to a rendezvous file the hub reads. Stopping (by hand, by
the culler, by a failed start) cancels the job; a job Slurm ended (wall time, node
failure) is a stopped server at the hub's next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, Integer, List, Unicode

from coursehub.engines.slurm.commands import (
    Identity,
    JobState,
    SlurmCommands,
    SlurmError,
    StateCache,
)
from coursehub.engines.slurm.script import JobRequest, batch_script, job_name, sbatch_options
from coursehub.hub.spawners import unix_accounts
from coursehub.hub.spawners.local import CoursehubLocalSpawner
from coursehub.hub.spawners.spawn_page import spawn_page_error

PENDING_AGE = 0.25  # seconds: how old a pending start's view of the queue may be
RENDEZVOUS_MAX = 4096  # bytes: a rendezvous file is a few dozen
_caches: dict[tuple[str, str], StateCache] = {}


class CoursehubSlurmSpawner(CoursehubLocalSpawner):
    slurm_conf = Unicode("", config=True, help="slurm.conf of the cluster (SLURM_CONF).")
    slurm_bin_dir = Unicode("", config=True, help="Folder of the Slurm commands; empty: PATH.")
    partition = Unicode("", config=True, help="Partition(s) of the jobs; empty: default.")
    account = Unicode("", config=True, help="Account of the jobs; empty: the user's default.")
    qos = Unicode("", config=True, help="QOS of the jobs; empty: default.")
    job_time = Integer(0, config=True, help="Wall time of a job in seconds; 0: partition's.")
    server_ip = Unicode("0.0.0.0", config=True, help="Address servers listen on in their job.")
    sbatch_extra = List(Unicode(), config=True, help="More sbatch options for every job.")
    course_options = Dict(
        {}, config=True, help="{course: {partition, account, qos, time}} over the above."
    )
    jobs_dir = Unicode("", config=True, help="Folder of the jobs' logs and rendezvous files.")
    state_ttl = Integer(2, config=True, help="Seconds one squeue answer serves every server.")
    create_accounts = Bool(True, config=True, help="Make missing student accounts here.")

    job_id: str = ""
    job_node: str = ""
    _job_state: JobState | None = None
    _times: dict[str, float] = {}  # noqa: RUF012 - replaced per start, never mutated here

    # --- Slurm ---------------------------------------------------------------------

    @property
    def commands(self) -> SlurmCommands:
        return SlurmCommands(self.slurm_conf, self.slurm_bin_dir)

    @property
    def states(self) -> StateCache:
        key = (self.slurm_conf, self.slurm_bin_dir)
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = StateCache(self.commands, ttl=self.state_ttl)
        return cache

    def _options(self) -> dict[str, Any]:
        site = {
            "partition": self.partition,
            "account": self.account,
            "qos": self.qos,
            "time": self.job_time,
        }
        course = self.course_options.get(self._course.course, {}) if self._course else {}
        return {key: course.get(key) or value for key, value in site.items()}

    async def prepare_account(self) -> None:
        if self.create_accounts:
            await super().prepare_account()
        elif unix_accounts.lookup(self.system_username) is None:
            reason = (
                f"there is no account {self.system_username} on the cluster; ask the "
                "site's admins (spawn.slurm.create_accounts is false: the cluster's own "
                "accounts are used)"
            )
            raise spawn_page_error(403, reason, f"You cannot start a server: {reason}.")

    # --- the student's job folder (written by root, owned by the student) ----------

    @property
    def _job_dir(self) -> Path:
        return Path(self.jobs_dir) / self.system_username

    @property
    def _server_key(self) -> str:
        return self.name or "default"

    @property
    def _rendezvous(self) -> Path:
        return self._job_dir / f"{self._server_key}.json"

    def _log_path(self) -> Path:
        return self._job_dir / f"{self._server_key}.log"

    def _make_job_dir(self) -> None:
        entry = self.fork_identity()
        top = Path(self.jobs_dir)
        top.mkdir(parents=True, exist_ok=True, mode=0o711)
        os.chmod(top, 0o711)  # students reach their own folder only
        path = self._job_dir
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode):
            raise RuntimeError(f"{path} is not a folder; remove it and start again")
        os.chown(path, entry[0], entry[1], follow_symlinks=False)
        os.chmod(path, 0o700)

    def _open_log(self) -> Any:
        """The job's output file, owned by the student (slurmd opens it as the job's
        user); root writes the start line without following a link the student made."""
        self._make_job_dir()
        path = self._log_path()
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)  # a link (or anything else) the student put there
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise RuntimeError(f"cannot open the server's log {path}: {exc.strerror}") from None
        fh = os.fdopen(fd, "ab", buffering=0)
        info = os.fstat(fd)
        # A second name would be a hard link the student made to someone else's file.
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            fh.close()
            raise RuntimeError(f"{path} is not a file of its own; remove it and start again")
        uid, gid, _ = self.fork_identity()
        os.fchown(fd, uid, gid)
        fh.write(f"--- server start {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        return fh

    def _read_rendezvous(self) -> dict[str, Any] | None:
        """The starter's record, read safely: the student controls this file."""
        try:
            fd = os.open(self._rendezvous, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except (FileNotFoundError, OSError):
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = os.read(fd, RENDEZVOUS_MAX + 1)
        finally:
            os.close(fd)
        try:
            record = json.loads(data) if len(data) <= RENDEZVOUS_MAX else None
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    # --- start, poll, stop -----------------------------------------------------------

    def _prepare_cgroups(self) -> list[Path]:
        return []  # Slurm (task/cgroup on the nodes) limits the job, not this machine

    def systemd_prefix(self) -> list[str] | None:
        return None

    def _request(self) -> JobRequest:
        options = self._options()
        workdir = self._course.workspace if self._course else Path(self.home_dir)
        return JobRequest(
            name=job_name(self.system_username, self.name),
            log=self._log_path(),
            workdir=workdir,
            rendezvous=self._rendezvous,
            python=self.cmd[0],
            server_argv=[*self.cmd, *self.get_args()],
            memory=self.mem_limit or None,
            cpu=self.cpu_limit or None,
            processes=self.process_limit or None,
            file_size=self.file_size_limit or None,
            time=options["time"] or None,
            partition=options["partition"] or None,
            account=options["account"] or None,
            qos=options["qos"] or None,
            server_ip=self.server_ip,
            options=list(self.sbatch_extra),
        )

    async def _launch(self, log: Any) -> tuple[str, int]:
        self.started_from = "slurm"
        self.proc = None
        self.pid = 0
        request = self._request()
        env = self.get_env()
        uid, gid, groups = self.fork_identity()
        with contextlib.suppress(FileNotFoundError):
            self._rendezvous.unlink()
        self._phase = "submitting"
        self._times = {"submit": time.monotonic()}
        job_id = await asyncio.to_thread(
            self.commands.submit,
            sbatch_options(request),
            batch_script(request),
            env,
            Identity(uid, gid, tuple(groups)),
            self.home_dir,
        )
        self.job_id = job_id
        self._times["submitted"] = time.monotonic()
        self.log.info("Submitted %s as Slurm job %s", self._log_name, job_id)
        try:
            return await self._until_listening()
        except BaseException:
            await asyncio.to_thread(self._cancel_quietly)
            raise

    async def _until_listening(self) -> tuple[str, int]:
        """Wait while the job is pending, then for its starter's port."""
        self._phase = "pending"
        pause = 0.1
        while True:
            state = await asyncio.to_thread(self.states.get, self.job_id, False, PENDING_AGE)
            self._job_state = state
            if state is None or state.finished:
                raise RuntimeError(self._ended_message(state))
            if state.state == "RUNNING" and state.nodes:
                break
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 1.0)
        self.job_node = state.nodes.split(",")[0]
        self._times["running"] = time.monotonic()
        host = await asyncio.to_thread(self.commands.node_address, self.job_node)
        self._phase = "launching"
        deadline = time.monotonic() + self.ready_timeout
        pause = 0.05
        while time.monotonic() < deadline:
            record = await asyncio.to_thread(self._read_rendezvous)
            if record and str(record.get("job")) == self.job_id:
                port = record.get("port")
                if isinstance(port, int) and 1024 <= port <= 65535:
                    self.port = port
                    return host, port
                raise RuntimeError(f"job {self.job_id} reported no usable port: {port!r}")
            state = await asyncio.to_thread(self.states.get, self.job_id)
            if state is None or state.finished:
                raise RuntimeError(self._ended_message(state))
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 0.5)
        raise TimeoutError(
            f"Slurm job {self.job_id} runs on {self.job_node} but its server did not start "
            f"within {self.ready_timeout} s. Last log lines: {self._log_tail()}"
        )

    def _ended_message(self, state: JobState | None) -> str:
        how = state.state.lower() if state else "ended"
        code = self.commands.exit_code(self.job_id) if self.job_id else None
        detail = f" (exit code {code})" if code else ""
        return (
            f"your server's Slurm job {self.job_id} {how} while starting{detail}. "
            f"Last log lines: {self._log_tail()}"
        )

    def _cancel_quietly(self) -> None:
        if self.job_id:
            try:
                self.commands.cancel(self.job_id)
            except SlurmError as exc:
                self.log.warning("Cancelling Slurm job %s failed: %s", self.job_id, exc)

    async def start(self) -> tuple[str, int]:
        ip, port = await super().start()
        t = self._times
        if {"submit", "submitted", "running"} <= t.keys():
            # what the login-storm benchmark reads: where a start's time went
            self.log.info(
                "Slurm job %s of %s ready: sbatch %.3f s, queued %.3f s, server %.3f s",
                self.job_id,
                self._log_name,
                t["submitted"] - t["submit"],
                t["running"] - t["submitted"],
                time.monotonic() - t["running"],
            )
        return ip, port

    async def _exit_code_if_gone(self) -> int | str | None:
        state = await asyncio.to_thread(self.states.get, self.job_id)
        if state is None or state.finished:
            return state.state.lower() if state else "unknown (job gone)"
        return None

    async def poll(self) -> int | None:
        if not self.job_id:
            return 0
        try:
            state = await asyncio.to_thread(self.states.get, self.job_id)
        except SlurmError as exc:
            # slurmctld briefly away (restart, failover): the job is probably still there
            self.log.warning("Slurm job %s not checked: %s", self.job_id, exc)
            return None
        if state is None or state.finished:
            self.log.info(
                "Slurm job %s of %s is %s",
                self.job_id,
                self._log_name,
                state.state if state else "gone",
            )
            self.states.forget(self.job_id)
            self.clear_state()
            return 1 if state is not None and state.state != "COMPLETED" else 0
        return None

    async def stop(self, now: bool = False) -> None:
        self._abandoned = True
        if self._hooks_task is not None:
            self._hooks_task.cancel()
        job_id = self.job_id
        if not job_id:
            return
        await asyncio.to_thread(self.commands.cancel, job_id)
        # Return once the server has gone, so a restart right after gets a new job.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = await asyncio.to_thread(self.states.get, job_id, True)
            if state is None or state.finished:
                break
            await asyncio.sleep(0.5)
        else:
            self.log.warning("Slurm job %s still ends after 60 s", job_id)
        self.states.forget(job_id)
        self.clear_state()

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.job_id = str(state.get("job_id", "") or "")
        self.job_node = str(state.get("job_node", "") or "")
        if self.job_id:
            self.states.watch(self.job_id)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.job_id:
            state.update(job_id=self.job_id, job_node=self.job_node)
        return state

    def clear_state(self) -> None:
        super().clear_state()
        self.job_id = ""
        self.job_node = ""

    def _progress_message(self) -> tuple[str, int]:
        if self._phase == "submitting":
            return "Sending your server to the cluster", 45
        if self._phase == "pending":
            state = self._job_state
            why = f" ({state.reason})" if state and state.reason not in ("", "None") else ""
            return f"Waiting for the cluster: job {self.job_id} is queued{why}", 50
        if self._phase == "launching" and self.job_id:
            return f"Starting your server on {self.job_node} (job {self.job_id})", 60
        return super()._progress_message()
