"""Module paths written outside the package by earlier releases keep working after an
upgrade: rendered Kubernetes values, container images and servers still running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

import coursehub.server_config
from coursehub.student.jupyter_config import CONFIG_DIR


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("coursehub.k8s.spawner", "coursehub.hub.spawners.kubernetes"),
        ("coursehub.hub.auth_local", "coursehub.hub.auth.local"),
        ("coursehub.hub.auth_github", "coursehub.hub.auth.github"),
    ],
)
def test_class_strings_in_rendered_values_name_the_same_classes(old: str, new: str) -> None:
    import importlib

    shim, module = importlib.import_module(old), importlib.import_module(new)
    names = [n for n in vars(shim) if n.startswith("Coursehub")]
    assert names, f"{old} exports no class"
    for name in names:
        assert getattr(shim, name) is getattr(module, name)


def _load(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("COURSEHUB_EVENTS_URL", "http://127.0.0.1:1/api/events")
    monkeypatch.setenv("COURSEHUB_COURSE", "algebra")
    monkeypatch.setenv("COURSEHUB_FRAME_ANCESTORS", "https://lms.example.edu")
    monkeypatch.delenv("COURSEHUB_LAB_SETTINGS_DIR", raising=False)
    loader = PyFileConfigLoader("jupyter_server_config.py", path=str(folder))
    return loader.load_config()


def test_the_old_config_folder_loads_the_same_server_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = Path(coursehub.server_config.__file__).parent
    assert old != CONFIG_DIR
    through_shim, direct = _load(old, monkeypatch), _load(CONFIG_DIR, monkeypatch)

    def settled(config: dict) -> dict:  # `update` values, as the server would apply them
        server = dict(config["ServerApp"])
        server["jpserver_extensions"] = server["jpserver_extensions"].get_value({})
        return {"ServerApp": server, "LabApp": dict(config["LabApp"])}

    assert settled(through_shim) == settled(direct)
    extensions = settled(through_shim)["ServerApp"]["jpserver_extensions"]
    assert extensions["coursehub.student.events"] is True
    assert not extensions["nbgrader.server_extensions.formgrader"]
    assert through_shim.LabApp.app_settings_dir == str(CONFIG_DIR / "lab-settings")


def test_the_old_server_entry_point_still_starts_jupyterhub_singleuser() -> None:
    old = subprocess.run(
        [sys.executable, "-m", "coursehub.singleuser", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    new = subprocess.run(
        [sys.executable, "-m", "coursehub.student.singleuser", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert old.returncode == new.returncode == 0, old.stderr
    assert old.stdout == new.stdout and old.stdout.strip()
