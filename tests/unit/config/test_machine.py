"""Without root the local backend cannot switch accounts: demo mode is chosen."""

from __future__ import annotations

import pytest

from coursehub.config import machine as runtime
from coursehub.config.loader import load_config_text


def test_non_root_falls_back_to_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.os, "geteuid", lambda: 1000)
    config = load_config_text("").config
    assert runtime.effective_config(config).spawn.backend == "demo"
    assert config.spawn.backend == "local"  # the loaded config itself is unchanged


def test_root_keeps_the_local_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.os, "geteuid", lambda: 0)
    config = load_config_text("").config
    assert runtime.effective_config(config).spawn.backend == "local"
