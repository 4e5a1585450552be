"""coursehub's configuration of every course server (student/jupyter_config)."""

from __future__ import annotations

import pytest
from traitlets.config.loader import PyFileConfigLoader

from coursehub.student.jupyter_config import CONFIG_DIR


def test_course_servers_install_no_extensions_from_pypi(monkeypatch: pytest.MonkeyPatch) -> None:
    """JupyterLab's extension manager only lists what the server has: students cannot
    install into its environment, and the PyPI manager would cost every server start
    an HTTPS client (the CA bundle loaded) for an index nobody may install from."""
    monkeypatch.delenv("COURSEHUB_COURSE", raising=False)
    config = PyFileConfigLoader("jupyter_server_config.py", path=str(CONFIG_DIR)).load_config()
    assert config.LabApp.extension_manager == "readonly"
