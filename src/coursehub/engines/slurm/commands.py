"""Slurm's own commands (sbatch, squeue, scancel, scontrol), as the hub uses them.

Submission runs as the student (Slurm authenticates the submitting uid through
munge, so the job is the student's); queries and cancellation run as the hub (root).
All of them are blocking: callers run them in a thread.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT = 30  # seconds; slurmctld answers in milliseconds when it is well
# States after which a job runs no more (squeue --states=all shows them a while).
FINISHED = frozenset(
    {
        "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
        "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT",
    }
)  # fmt: skip


class SlurmError(RuntimeError):
    """A Slurm command failed; the message carries its own words."""


@dataclass(frozen=True)
class JobState:
    state: str  # PENDING, RUNNING, COMPLETING, ... as squeue prints it
    nodes: str  # the node list, empty while pending
    reason: str  # why it is pending (Resources, Priority, ...), else "None"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]


class SlurmCommands:
    def __init__(self, conf: str = "", bin_dir: str = "") -> None:
        self.conf = conf
        self.bin_dir = bin_dir

    def path(self, name: str) -> str:
        if self.bin_dir:
            return str(Path(self.bin_dir) / name)
        return shutil.which(name) or name

    def _env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        base = dict(os.environ if env is None else env)
        if self.conf:
            base["SLURM_CONF"] = self.conf
        return base

    def _run(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        identity: Identity | None = None,
        cwd: str | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        # None (the default) runs the command as the hub's own account
        user = group = extra_groups = None
        if identity is not None:
            user, group, extra_groups = identity.uid, identity.gid, identity.groups
        try:
            return subprocess.run(
                [self.path(argv[0]), *argv[1:]],
                input=stdin,
                env=self._env(env),
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                user=user,
                group=group,
                extra_groups=extra_groups,
            )
        except FileNotFoundError:
            raise SlurmError(
                f"{argv[0]} not found: install Slurm's client commands on the hub's machine "
                "or set spawn.slurm.bin_dir"
            ) from None
        except subprocess.TimeoutExpired:
            raise SlurmError(f"{argv[0]} did not answer within {timeout:.0f} s") from None

    def submit(
        self,
        options: list[str],
        script: str,
        env: dict[str, str],
        identity: Identity,
        cwd: str,
    ) -> str:
        """sbatch as the student; the job id. `env` is the job's whole environment."""
        done = self._run(
            ["sbatch", "--parsable", *options], env=env, stdin=script, identity=identity, cwd=cwd
        )
        if done.returncode != 0:
            raise SlurmError(f"sbatch refused the job: {_first_words(done.stderr)}")
        job_id = done.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise SlurmError(f"sbatch gave no job id: {done.stdout.strip()!r}")
        return job_id

    def states(self, job_ids: list[str]) -> dict[str, JobState]:
        """Every job of `job_ids` that Slurm still knows; a job missing is gone."""
        if not job_ids:
            return {}
        done = self._run(
            [
                "squeue", "--noheader", "--states=all", f"--jobs={','.join(job_ids)}",
                "--format=%i|%T|%N|%r",
            ]
        )  # fmt: skip
        if done.returncode != 0:
            if "Invalid job id" in done.stderr:
                return {}  # none of them is known any more
            raise SlurmError(f"squeue failed: {_first_words(done.stderr)}")
        found: dict[str, JobState] = {}
        for line in done.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 4:
                found[parts[0]] = JobState(parts[1], parts[2], parts[3])
        return found

    def run_and_wait(
        self, options: list[str], script: str, env: dict[str, str], cwd: str, timeout: float
    ) -> tuple[int, str]:
        """sbatch --wait as the hub (root): (Slurm's exit code of the job, sbatch's
        message). Returns when the job has ended."""
        done = self._run(
            ["sbatch", "--wait", *options], env=env, stdin=script, cwd=cwd, timeout=timeout
        )
        return done.returncode, _first_words(done.stderr + " " + done.stdout)

    def cancel(self, job_id: str) -> None:
        done = self._run(["scancel", job_id])
        if done.returncode != 0 and "Invalid job id" not in done.stderr:
            raise SlurmError(f"scancel {job_id} failed: {_first_words(done.stderr)}")

    def node_address(self, node: str) -> str:
        """The address Slurm reaches `node` at (NodeAddr), else its name."""
        done = self._run(["scontrol", "--oneliner", "show", "node", node])
        for word in done.stdout.split():
            if word.startswith("NodeAddr="):
                return word.split("=", 1)[1] or node
        return node

    def exit_code(self, job_id: str) -> str | None:
        """ExitCode=<code>:<signal> of a job Slurm still remembers."""
        done = self._run(["scontrol", "--oneliner", "show", "job", job_id])
        for word in done.stdout.split():
            if word.startswith("ExitCode="):
                return word.split("=", 1)[1]
        return None

    def config_value(self, key: str) -> str | None:
        """One setting of the running cluster (scontrol show config)."""
        done = self._run(["scontrol", "show", "config"])
        for line in done.stdout.splitlines():
            name, _, value = line.partition("=")
            if name.strip() == key:
                return value.strip()
        return None


def _first_words(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text[:limit] or "no message"


class StateCache:
    """squeue once for every server asking within `ttl` seconds, not once per server:
    the hub polls each running server, and a class is hundreds of them. Thread-safe
    (callers ask from worker threads)."""

    def __init__(self, commands: SlurmCommands, ttl: float = 2.0) -> None:
        self.commands = commands
        self.ttl = ttl
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._asked: set[str] = set()
        self._states: dict[str, JobState] = {}
        self._at = 0.0

    def watch(self, job_id: str) -> None:
        """Know of a job before anyone asks (a hub restart loads every server's job
        first, so the first squeue covers them all)."""
        with self._lock:
            self._known.add(job_id)

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._known.discard(job_id)
            self._states.pop(job_id, None)

    def get(
        self, job_id: str, fresh: bool = False, max_age: float | None = None
    ) -> JobState | None:
        """The job's state, or None once Slurm has forgotten it. `max_age`: seconds an
        answer may be old (default the ttl); starts waiting together share one squeue."""
        with self._lock:
            self._known.add(job_id)
            age = self.ttl if max_age is None else max_age
            stale = time.monotonic() - self._at > age
            if fresh or stale or job_id not in self._asked:
                self._asked = set(self._known)
                self._states = self.commands.states(sorted(self._known))
                self._at = time.monotonic()
            return self._states.get(job_id)
