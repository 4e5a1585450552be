"""Talking to a running `coursehub up` process."""

from __future__ import annotations

import os
import signal

from coursehub.config.layout import DataLayout
from coursehub.config.loader import LoadedConfig
from coursehub.core.errors import HubNotRunning


def up_pid(loaded: LoadedConfig) -> int:
    layout = DataLayout(loaded.config.site.data_dir)
    try:
        pid = int(layout.up_pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        raise HubNotRunning(
            f"`coursehub up` is not running for {layout.root}; start it first"
        ) from None
    return pid


def restart_hub(loaded: LoadedConfig) -> int:
    """Ask `coursehub up` to restart the hub alone (servers and routes stay)."""
    pid = up_pid(loaded)
    os.kill(pid, signal.SIGHUP)
    return pid
