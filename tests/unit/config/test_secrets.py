"""Secrets are generated once, private (0600) and refused when exposed or short."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from coursehub.config.layout import DataLayout
from coursehub.config.secrets import ensure_hub_secrets, ensure_secret
from coursehub.core.errors import SetupError


def test_generated_once_private_and_stable(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path / "data")
    first = ensure_hub_secrets(layout)
    second = ensure_hub_secrets(layout)
    assert first == second
    assert len({first.proxy_token, first.service_token, first.cli_token}) == 3
    for name in ("cookie_secret", "proxy_token", "service_token", "cli_token"):
        mode = stat.S_IMODE(layout.secret_file(name).stat().st_mode)
        assert mode == 0o600, name
    assert stat.S_IMODE(layout.secrets.stat().st_mode) == 0o700


def test_world_readable_secret_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "token"
    ensure_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(SetupError, match=f"chmod 600 {path}"):
        ensure_secret(path)


def test_short_secret_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("short")
    os.chmod(path, 0o600)
    with pytest.raises(SetupError, match="shorter than 32 bytes"):
        ensure_secret(path)


def test_secret_values_never_reach_the_translated_view(tmp_path: Path) -> None:
    from coursehub.config import show
    from coursehub.config.loader import load_config

    (tmp_path / "coursehub.yaml").write_text("site:\n  data_dir: ./data\n")
    loaded = load_config(tmp_path / "coursehub.yaml")
    secrets = ensure_hub_secrets(DataLayout(loaded.config.site.data_dir))
    text = show.jupyterhub_view(loaded)
    for value in (secrets.proxy_token, secrets.service_token, secrets.cli_token):
        assert value not in text
    assert "<secret>" in text
