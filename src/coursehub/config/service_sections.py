"""What the hub tells the coursehub service about coursehub.yaml: one typed model per
environment variable (COURSEHUB_GRADING, COURSEHUB_LTI, COURSEHUB_OPS, COURSEHUB_BACKUP).

The translation builds them and the service parses them, so both sides share one
shape; every default is the coursehub.yaml model's own, never declared a second time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from coursehub.config.models import (
    BackupConfig,
    CourseIdleConfig,
    GradingConfig,
    GradingLimitsConfig,
    HooksConfig,
    IdleConfig,
    JwtSignInConfig,
    LtiConfig,
    MetricsConfig,
    MoodleCompatConfig,
    RemoteGradingConfig,
    Section,
    ServersConfig,
    SiteConfig,
    StatsConfig,
    WarmupConfig,
)
from coursehub.config.units import Duration, Size


def default_of(model: type[BaseModel], name: str) -> Any:
    """The default of coursehub.yaml's `model.name` (validated where it is used)."""
    return model.model_fields[name].get_default(call_default_factory=True)


class GradingJobTarget(Section):
    """Where grading jobs go (grading.run_on: slurm): spawn.slurm's cluster with
    grading.slurm's partition, account and qos over the site's."""

    conf: str = ""
    bin_dir: str = ""
    partition: str = ""
    account: str = ""
    qos: str = ""
    options: list[str] = Field(default_factory=list)


class GradingSection(Section):
    """COURSEHUB_GRADING."""

    parallel: int = Field(1, ge=1)  # grading.parallel, `auto` resolved to the cores
    max_queued: int = default_of(GradingConfig, "max_queued")
    limits: GradingLimitsConfig = Field(default_factory=GradingLimitsConfig)
    remote_api: RemoteGradingConfig = Field(default_factory=RemoteGradingConfig)
    slurm: GradingJobTarget | None = None
    moodle_compat: MoodleCompatConfig = Field(default_factory=MoodleCompatConfig)
    # auth.jwt, when moodle_compat is on: the plugin's sign-in links become coursehub's own
    signin_link: JwtSignInConfig | None = None


class LtiSection(Section):
    """COURSEHUB_LTI (no secrets: the tool's key stays in its 0600 file)."""

    enabled: bool = False  # "lti" in auth.methods
    username_claim: str = default_of(LtiConfig, "username_claim")
    auto_create_courses: bool = default_of(LtiConfig, "auto_create_courses")
    grade_passback: bool = default_of(LtiConfig, "grade_passback")
    roster_sync_seconds: Duration = default_of(LtiConfig, "roster_sync")
    public_url: str = ""


class IdleSection(Section):
    """idle: as the service's staff pages need it (the culler has its own policy)."""

    timeout: Duration = default_of(IdleConfig, "timeout")
    max_age: Duration = default_of(IdleConfig, "max_age")
    runaway_after: Duration = default_of(IdleConfig, "runaway_after")
    courses: dict[str, CourseIdleConfig] = Field(default_factory=dict)


class OpsSection(Section):
    """COURSEHUB_OPS: monitor, runaway kernels, quota, metrics, hooks."""

    # where the service reaches course servers (their REST API) through the proxy
    proxy_url: str = f"http://127.0.0.1:{default_of(SiteConfig, 'port')}"
    idle: IdleSection = Field(default_factory=IdleSection)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    quota_soft: Size | None = None
    metrics: bool = default_of(MetricsConfig, "enabled")
    hooks_dir: str = ""
    hooks_timeout: Duration = default_of(HooksConfig, "timeout")


class BackupSection(Section):
    """COURSEHUB_BACKUP: the schedule, with coursehub.yaml's own path."""

    dir: Path
    config_file: Path | None = None  # none: backup.dir is only watched (metrics), not filled
    every_seconds: Duration = default_of(BackupConfig, "every")
    keep: int = Field(default_of(BackupConfig, "keep"), ge=1)


class WarmupSection(Section):
    """COURSEHUB_WARMUP: warm-ups before a class, as the service (and the command line)
    run them."""

    lead: Duration = default_of(WarmupConfig, "lead")
    unused_after: Duration = default_of(WarmupConfig, "unused_after")
    reserve: Size = default_of(WarmupConfig, "reserve")
    server_memory: Size = default_of(WarmupConfig, "server_memory")
    kernel_memory: Size = default_of(WarmupConfig, "kernel_memory")
    # servers.concurrent_starts, `auto` resolved: a warm-up starts no more at once
    concurrency: int = Field(1, ge=1)
    start_timeout: Duration = default_of(ServersConfig, "start_timeout")
    # servers run on this machine (local, demo, docker), so its memory bounds them
    memory_bound: bool = True
    # course -> the GitHub teams (auth.github.team_courses) that enrol in it at sign-in
    signin_teams: dict[str, list[str]] = Field(default_factory=dict)
