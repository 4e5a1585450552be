"""coursehub's prebuilt JupyterLab plugin as JupyterLab finds and loads it: the folder
course servers put on LabApp.extra_labextensions_path, a package.json naming a script
whose file name changes with its content (JupyterLab serves extension files as
immutable), and a module-federation container that gives JupyterLab the plugin,
taking JupyterLab's own shared modules (run in Node with JupyterLab's calls stubbed;
the browser tests run it in JupyterLab itself)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from coursehub.student.lab import LABEXTENSIONS

EXTENSION = LABEXTENSIONS / "@coursehub" / "lab"


def _package() -> dict:
    return json.loads((EXTENSION / "package.json").read_text())


def test_jupyterlab_finds_the_extension_in_the_folder_course_servers_add() -> None:
    from jupyterlab_server.config import get_page_config

    config = get_page_config([str(LABEXTENSIONS)])
    (found,) = [e for e in config["federated_extensions"] if e["name"] == "@coursehub/lab"]
    assert found["extension"] == "./extension" and found["load"].startswith("static/")
    assert (EXTENSION / found["load"]).is_file()


def test_the_script_name_changes_with_its_content() -> None:
    """Browsers keep extension files forever: an edited script needs a new name."""
    load = EXTENSION / _package()["jupyterlab"]["_build"]["load"]
    digest = hashlib.sha256(load.read_bytes()).hexdigest()[:16]
    scripts = sorted(p.name for p in (EXTENSION / "static").iterdir())
    assert scripts == [f"remoteEntry.{digest}.js"], (
        f"rename the script to remoteEntry.{digest}.js and point package.json's "
        "jupyterlab._build.load at it"
    )


def test_the_course_servers_config_adds_the_folder() -> None:
    config = (
        LABEXTENSIONS.parent.parent / "jupyter_config" / "jupyter_server_config.py"
    ).read_text()
    assert "c.LabApp.extra_labextensions_path = [str(LABEXTENSIONS)]" in config
    assert '"coursehub.student.lab": True' in config


HARNESS = Path(__file__).with_name("lab_container_harness.cjs")


def test_the_container_gives_jupyterlab_the_plugin() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node is not installed (./dev setup installs it for the proxy)")
    load = EXTENSION / _package()["jupyterlab"]["_build"]["load"]
    done = subprocess.run(
        [node, str(HARNESS), str(load)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["esModule"] and got["id"] == "@coursehub/lab:plugin" and got["autoStart"]
    # JupyterLab 4's own modules, not an older major found in the share scope
    assert got["optional"] == ["palette-token"]
    assert "has no module ./other" in got["other"]
    assert got["commands"] == [["coursehub:submit", "Submit this assignment"]]
    assert got["palette"] == [{"command": "coursehub:submit", "category": "Course"}]
    # someone else than the owner in the server: a banner names whose it is
    (banner,) = got["shell"]
    assert banner[:2] == ["top", "coursehub-owner-banner"] and banner[3] == "status"
    assert banner[2].startswith("You are in nina's server for algebra (as course staff)")
