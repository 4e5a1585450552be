"""Gradings as Slurm jobs (grading.run_on: slurm): the service's workers submit one
job per grading and wait for it; the job (coursehub.ops.grading_job) grades in
the sandbox on its node and leaves the result in a file the worker records."""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from coursehub.config.service_sections import GradingJobTarget
from coursehub.engines.slurm.commands import SlurmCommands, SlurmError
from coursehub.grading.grader import GradingLimits
from coursehub.grading.store import GradingStore

JOB_MEMORY_EXTRA = 512 * 2**20  # the grading process and its kernel client, beyond the box's
JOB_TIME_EXTRA = 120  # seconds beyond the sandbox's wall time: set-up and scoring
WAIT_EXTRA = 600  # seconds a job may wait in the queue before the worker gives up


class SlurmGrader:
    """Callable as grade_submission is: (store, gid, limits, python) -> result."""

    def __init__(self, settings: GradingJobTarget, database_url: str, data_dir: Path) -> None:
        self.settings = settings
        self.database_url = database_url
        self.data_dir = data_dir
        self.commands = SlurmCommands(settings.conf, settings.bin_dir)

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "grading-jobs"

    def options(self, gid: int, limits: GradingLimits) -> list[str]:
        box = limits.sandbox
        options = [
            f"--job-name=coursehub-grade-{gid}",
            f"--output={self.jobs_dir / f'g{gid}.log'}",
            f"--chdir={self.jobs_dir}",
            "--nodes=1",
            "--ntasks=1",
            "--cpus-per-task=1",
            f"--mem={math.ceil((box.memory + JOB_MEMORY_EXTRA) / 2**20)}M",
            f"--time={math.ceil((box.wall_seconds + JOB_TIME_EXTRA) / 60)}",
            "--export=ALL",
        ]
        for flag in ("partition", "account", "qos"):
            if value := getattr(self.settings, flag):
                options.append(f"--{flag}={value}")
        return [*options, *self.settings.options]

    def script(self, gid: int, limits: GradingLimits, python: str, result: Path) -> str:
        box = limits.sandbox
        raw = {
            "cpu_time": box.cpu_seconds,
            "memory": box.memory,
            "processes": box.processes,
            "file_size": box.file_size,
            "wall_time": box.wall_seconds,
            "cell_time": limits.cell_seconds,
        }
        argv = [
            python, "-m", "coursehub.ops.grading_job", "--gid", str(gid),
            "--limits", json.dumps(raw), "--result", str(result),
        ]  # fmt: skip
        return f"#!/bin/sh\nexec {shlex.join(argv)}\n"

    def __call__(
        self, store: GradingStore, gid: int, limits: GradingLimits, python: str = sys.executable
    ) -> dict[str, Any]:
        self.jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        result = self.jobs_dir / f"g{gid}.json"
        result.unlink(missing_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": os.environ.get("HOME", "/root"),
            "COURSEHUB_DATABASE_URL": self.database_url,
            "COURSEHUB_DATA_DIR": str(self.data_dir),
        }
        timeout = limits.sandbox.wall_seconds + JOB_TIME_EXTRA + WAIT_EXTRA
        try:
            code, said = self.commands.run_and_wait(
                self.options(gid, limits),
                self.script(gid, limits, python, result),
                env,
                str(self.jobs_dir),
                timeout,
            )
        except SlurmError as exc:
            return {"state": "failed", "outcome": f"the grading job did not run: {exc}"[:300]}
        try:
            found: dict[str, Any] = json.loads(result.read_text())
        except (OSError, ValueError):
            log = self.jobs_dir / f"g{gid}.log"
            tail = log.read_text(errors="replace")[-300:] if log.exists() else ""
            return {
                "state": "failed",
                "outcome": f"the grading job ended without a result (sbatch exit {code}: "
                f"{said}) {tail}"[:300],
            }
        finally:
            result.unlink(missing_ok=True)
        return found
