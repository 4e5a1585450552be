"""coursehub.yaml sections of the Slurm backend: spawn.slurm and the per-course
courses.settings.<course>.slurm.

Only their shape lives here; what each becomes is in coursehub.engines.slurm.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coursehub.config.units import Duration

# Partition, account and QOS names as Slurm accepts them (no spaces, commas only
# between partitions).
SLURM_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PARTITION_LIST_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}(,[A-Za-z0-9_.-]{1,64})*$")
# One sbatch option: --name or --name=value, nothing a shell or #SBATCH line could break.
SBATCH_OPTION_RE = re.compile(r"^--[a-z][a-z-]*(=[A-Za-z0-9_.,:=+/@%-]+)?$")
# Options coursehub sets itself: a site that sets them too would silently lose its value
# or break the job (another output file, another user, no environment).
RESERVED_OPTIONS = frozenset(
    {
        "--job-name", "--output", "--error", "--open-mode", "--chdir", "--export",
        "--mem", "--mem-per-cpu", "--cpus-per-task", "--time", "--partition",
        "--account", "--qos", "--uid", "--gid", "--wrap", "--parsable", "--array",
    }
)  # fmt: skip


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class SlurmJobOptions(_Section):
    """Where and how long a server's job runs; per site, and per course on top."""

    partition: str | None = Field(
        None,
        description="Partition (or comma-separated partitions) the jobs go to. Empty: the "
        "cluster's default partition.",
    )
    account: str | None = Field(
        None, description="Slurm account the jobs are charged to. Empty: the student's default."
    )
    qos: str | None = Field(None, description="Quality of service of the jobs. Empty: default.")
    time: Duration | None = Field(
        None,
        description="Wall time of a server's job (e.g. 8h); Slurm ends the server after "
        "it. Empty: the partition's limit.",
    )

    @field_validator("partition")
    @classmethod
    def _partition(cls, v: str | None) -> str | None:
        if v is not None and not PARTITION_LIST_RE.match(v):
            raise ValueError(
                "expected a partition name such as teaching, or several separated by "
                "commas (letters, digits, '_', '.', '-')"
            )
        return v

    @field_validator("account", "qos")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not SLURM_NAME_RE.match(v):
            raise ValueError("expected a Slurm name such as ds101 (letters, digits, '_', '.', '-')")
        return v

    @field_validator("time")
    @classmethod
    def _time(cls, v: int | None) -> int | None:
        if v is not None and v < 60:
            raise ValueError("expected at least a minute (e.g. 30m or 8h): Slurm counts minutes")
        return v


class SlurmSpawnConfig(SlurmJobOptions):
    conf: Path | None = Field(
        None,
        description="The cluster's slurm.conf, when it is not where the Slurm commands look "
        "by default (/etc/slurm/slurm.conf).",
    )
    bin_dir: Path | None = Field(
        None,
        description="Folder with sbatch, squeue, scancel and scontrol. Empty: found on PATH.",
    )
    hub_address: str = Field(
        "127.0.0.1",
        description="This machine's address as the compute nodes reach it. Servers on "
        "other machines reach the hub's API and the notebook events through the public "
        "proxy there (site.port; site.bind_address must cover it), the hub itself stays "
        "on 127.0.0.1. 127.0.0.1: the cluster's nodes include this machine only.",
    )
    server_ip: str = Field(
        "0.0.0.0",
        description="Address the server listens on inside its job. The hub and the proxy "
        "reach it at its node's address (NodeAddr).",
    )
    create_accounts: bool = Field(
        True,
        description="Make missing student accounts on the hub's machine, as the local "
        "backend does; only right when the nodes share its /etc/passwd. false: use the "
        "cluster's own accounts (LDAP, ...): a student without one cannot start a server.",
    )
    options: list[str] = Field(
        default_factory=list,
        description="More sbatch options for every server's job, e.g. [--constraint=teaching].",
    )

    @field_validator("options")
    @classmethod
    def _options(cls, v: list[str]) -> list[str]:
        for option in v:
            if not SBATCH_OPTION_RE.match(option):
                raise ValueError(
                    f"{option!r} is not one sbatch option: expected --name or --name=value, "
                    "e.g. --constraint=teaching"
                )
            name = option.split("=", 1)[0]
            if name in RESERVED_OPTIONS:
                raise ValueError(
                    f"{name} is set by coursehub (from servers.limits, spawn.slurm and "
                    "courses.settings.<course>.slurm): set it there instead"
                )
        return v

    @field_validator("hub_address", "server_ip")
    @classmethod
    def _address(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError("expected an IP address, e.g. 10.0.0.5") from None
        return v

    @field_validator("hub_address")
    @classmethod
    def _reachable(cls, v: str) -> str:
        if ipaddress.ip_address(v).is_unspecified:
            raise ValueError(
                "expected this machine's own address as the nodes reach it (e.g. 10.0.0.5), "
                "not a listen-everywhere address"
            )
        return v
