"""What the hub tells its managed services beyond the pure translation: settings that
need coursehub.yaml's own path, which `translate()` does not know."""

from __future__ import annotations

import json

from coursehub.config.loader import LoadedConfig

BACKUP_ENV = "COURSEHUB_BACKUP"


def backup_environment(loaded: LoadedConfig) -> dict[str, str]:
    """The service's environment for the schedule (nothing when `backup.dir` is unset)."""
    backup = loaded.config.backup
    if backup.dir is None or loaded.path is None:
        return {}
    settings = {
        "dir": str(backup.dir),
        "every_seconds": int(backup.every),
        "keep": backup.keep,
        "config_file": str(loaded.path),
    }
    return {BACKUP_ENV: json.dumps(settings)}
