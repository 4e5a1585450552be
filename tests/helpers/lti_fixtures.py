"""Shared pieces of the LMS service tests: the tool's key where the CLI and the service
find it, and the CLI (the key itself and a course repository are fixtures of
tests/unit/conftest.py and tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from coursehub.config.layout import DataLayout
from coursehub.config.secrets import ensure_private_dir
from coursehub.lti.keys import ToolKey


def store_key(key: ToolKey, layout: DataLayout) -> None:
    """The tool's key where the CLI and the service look for it."""
    path = layout.secret_file("lti_tool_key.pem")
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_pem)


def lti_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`coursehub lti ARGS` for the site whose coursehub.yaml is in `tmp_path`."""
    config = str(tmp_path / "coursehub.yaml")
    return subprocess.run(
        [sys.executable, "-m", "coursehub.cli", "--config", config, "lti", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
