"""The grading feature's parts for one service process: the store, the workers and
the limits from coursehub.yaml's grading section."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coursehub.config.models import RemoteGradingConfig
from coursehub.config.service_sections import GradingSection
from coursehub.db.session import Database
from coursehub.grading.grader import limits_from
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.grading.workers import Graded, GradingWorkers


def _grader(section: GradingSection, settings: Any) -> Callable[..., dict[str, Any]]:
    """grade_submission, or a Slurm job per grading (grading.run_on: slurm)."""
    if section.slurm is not None:
        from coursehub.grading.slurm_grader import SlurmGrader

        return SlurmGrader(section.slurm, settings.database_url, Path(settings.data_dir))
    from coursehub.grading.autograde import grade_submission

    return grade_submission


@dataclass
class GradingService:
    store: GradingStore
    workers: GradingWorkers | None  # None where nothing may grade (not root)
    max_queued: int
    remote: RemoteGradingConfig = field(default_factory=RemoteGradingConfig)

    def wake(self) -> None:
        if self.workers is not None:
            self.workers.wake()

    async def manual_changed(self, sid: int) -> None:
        """Staff changed points by hand: listeners (the LMS) hear the new total."""
        if self.workers is None or not self.workers.listeners:
            return
        grading = self.store.latest_grading(sid)
        if grading is not None:
            await self.workers.tell(grading.id)


def make_grading_service(settings: Any, database: Database) -> GradingService:
    """The grading feature of a service with these settings; its workers grade only
    where the service runs as root (the sandbox makes throwaway accounts)."""
    section = settings.grading
    store = GradingStore(database, GradingPaths(Path(settings.data_dir)))
    workers = None
    if os.geteuid() == 0:
        workers = GradingWorkers(
            store,
            limits_from(section.limits),
            section.parallel,
            grade=_grader(section, settings),
        )
    return GradingService(store, workers, section.max_queued, section.remote_api)


__all__ = ["Graded", "GradingService", "make_grading_service"]
