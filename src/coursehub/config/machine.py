"""Decisions that depend on the machine, kept apart from the pure translation."""

from __future__ import annotations

import os

from coursehub.config.models import CoursehubConfig


def is_root() -> bool:
    return os.geteuid() == 0


def effective_config(config: CoursehubConfig) -> CoursehubConfig:
    """Without root the local backend cannot switch accounts: fall back to demo mode."""
    if config.spawn.backend == "local" and not is_root():
        spawn = config.spawn.model_copy(update={"backend": "demo"})
        return config.model_copy(update={"spawn": spawn})
    return config
