"""What the hub tells its managed services beyond the pure translation: settings that
need coursehub.yaml's own path, which `translate()` does not know."""

from __future__ import annotations

from coursehub.config.loader import LoadedConfig
from coursehub.config.service_sections import BackupSection

BACKUP_ENV = "COURSEHUB_BACKUP"


def backup_environment(loaded: LoadedConfig) -> dict[str, str]:
    """The service's environment for the schedule (nothing when `backup.dir` is unset)."""
    backup = loaded.config.backup
    if backup.dir is None or loaded.path is None:
        return {}
    section = BackupSection(
        dir=backup.dir, config_file=loaded.path, every_seconds=backup.every, keep=backup.keep
    )
    return {BACKUP_ENV: section.model_dump_json()}
