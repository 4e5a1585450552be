"""coursehub's configuration of every course server (student/jupyter_config)."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from coursehub.config.layout import DataLayout, Ports
from coursehub.config.loader import load_config
from coursehub.config.translate.jupyterhub import HubSecrets, Machine, translate
from coursehub.student.jupyter_config import CONFIG_DIR


def test_course_servers_install_no_extensions_from_pypi(monkeypatch: pytest.MonkeyPatch) -> None:
    """JupyterLab's extension manager only lists what the server has: students cannot
    install into its environment, and the PyPI manager would cost every server start
    an HTTPS client (the CA bundle loaded) for an index nobody may install from."""
    monkeypatch.delenv("COURSEHUB_COURSE", raising=False)
    config = PyFileConfigLoader("jupyter_server_config.py", path=str(CONFIG_DIR)).load_config()
    assert config.LabApp.extension_manager == "readonly"


@pytest.mark.parametrize(("setting", "jupyter_lsp_off"), [("", True), ("1", False)])
def test_language_server_search_only_when_the_site_asks(
    monkeypatch: pytest.MonkeyPatch, setting: str, jupyter_lsp_off: bool
) -> None:
    """jupyter-lsp's search (every package's entry points, `npm prefix -g`) runs at
    each server start only with servers.language_servers."""
    monkeypatch.setenv("COURSEHUB_LANGUAGE_SERVERS", setting)
    config = PyFileConfigLoader("jupyter_server_config.py", path=str(CONFIG_DIR)).load_config()
    extensions = config.ServerApp.jpserver_extensions.get_value({})
    assert (extensions.get("jupyter_lsp") is False) == jupyter_lsp_off


def test_the_setting_reaches_the_servers(tmp_path: Path) -> None:
    for yaml, value in (("", ""), ("servers:\n  language_servers: true\n", "1")):
        (tmp_path / "coursehub.yaml").write_text(yaml)
        config = load_config(tmp_path / "coursehub.yaml").config
        hub = translate(
            config,
            DataLayout(config.site.data_dir),
            Ports(hub=18081, proxy_api=18001, service=18090),
            HubSecrets("p", "s", "c"),
            Machine("py", 2),
        )
        assert hub["Spawner"]["environment"]["COURSEHUB_LANGUAGE_SERVERS"] == value
