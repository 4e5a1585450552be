"""A server's job: sbatch options from coursehub.yaml (given on sbatch's command line,
so no path needs quoting for #SBATCH lines), and a batch script that runs the in-job
starter (coursehub.student.slurm_job), which picks a port and runs the server."""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

JOB_NAME_PREFIX = "coursehub-"


@dataclass(frozen=True)
class JobRequest:
    """Everything one server's job asks Slurm for."""

    name: str
    log: Path
    workdir: Path
    rendezvous: Path
    python: str
    server_argv: list[str]
    memory: int | None = None  # bytes
    cpu: float | None = None
    processes: int | None = None
    file_size: int | None = None  # bytes
    time: int | None = None  # seconds
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    server_ip: str = "0.0.0.0"
    options: list[str] = field(default_factory=list)


def job_name(username: str, server: str) -> str:
    """coursehub-<user>[-<course>]: what squeue shows (and the admins grep for)."""
    return f"{JOB_NAME_PREFIX}{username}" + (f"-{server}" if server else "")


def sbatch_options(job: JobRequest) -> list[str]:
    options = [
        f"--job-name={job.name}",
        f"--output={job.log}",
        "--open-mode=append",
        f"--chdir={job.workdir}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={max(1, math.ceil(job.cpu or 1))}",
        # The hub hands over exactly the environment the server needs (and no more).
        "--export=ALL",
        # Ask for SIGTERM a minute before the wall time, so the server saves and exits.
        "--signal=B:TERM@60",
    ]
    if job.memory:
        options.append(f"--mem={math.ceil(job.memory / 2**20)}M")
    if job.time:
        options.append(f"--time={max(1, job.time // 60)}")
    for flag, value in (("partition", job.partition), ("account", job.account), ("qos", job.qos)):
        if value:
            options.append(f"--{flag}={value}")
    return [*options, *job.options]


def batch_script(job: JobRequest) -> str:
    """The script sbatch reads on its standard input."""
    starter = [
        job.python, "-m", "coursehub.student.slurm_job",
        "--rendezvous", str(job.rendezvous),
        "--ip", job.server_ip,
    ]  # fmt: skip
    if job.processes:
        starter += ["--processes", str(job.processes)]
    if job.file_size:
        starter += ["--file-size", str(job.file_size)]
    command = shlex.join([*starter, "--", *job.server_argv])
    return f"#!/bin/sh\nexec {command}\n"
