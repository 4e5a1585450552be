"""A course server loads nothing from its student's home (student/lockdown.py)."""

from __future__ import annotations

import os
import site
import stat
import sys
from pathlib import Path

import pytest

from coursehub.student import lockdown


@pytest.fixture
def saved_path():  # noqa: ANN201
    path, user_site = list(sys.path), site.ENABLE_USER_SITE
    yield
    sys.path[:] = path
    site.ENABLE_USER_SITE = user_site


def test_jupyter_folders_are_coursehubs_and_home_leaves_sys_path(
    tmp_path: Path, saved_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    user_site = home / ".local" / "lib" / "python3.11" / "site-packages"
    user_site.mkdir(parents=True)
    # a Python installed in the home (an admin's own venv) is not the student's code
    venv = home / "venv"
    monkeypatch.setattr(sys, "prefix", str(venv))
    environ = {"HOME": str(home), **lockdown.SERVER_ENV}
    sys.path[:0] = [str(user_site), str(home / "courses" / "algebra"), f"{venv}/lib/site"]
    removed = lockdown.lock_down(environ)
    assert removed == [str(user_site), str(home / "courses" / "algebra")]
    assert [p for p in sys.path if p.startswith(str(home))] == [f"{venv}/lib/site"]
    assert site.ENABLE_USER_SITE is False
    # Jupyter's user config and data: coursehub's, not the home's
    assert environ["JUPYTER_CONFIG_DIR"] == str(lockdown.SERVER_HOME / "config")
    assert environ["JUPYTER_DATA_DIR"] == str(lockdown.SERVER_HOME / "data")
    assert environ["JUPYTERHUB_DISABLE_USER_CONFIG"] == "1"
    # what the server writes stays in the home (data only)
    assert environ["JUPYTER_RUNTIME_DIR"] == f"{home}/.local/share/jupyter/runtime"
    assert environ["JUPYTERLAB_SETTINGS_DIR"] == f"{home}/.jupyter/lab/user-settings"
    # kernels and terminals get the student's usual Python
    assert "PYTHONNOUSERSITE" not in environ and "PYTHONSAFEPATH" not in environ


def test_the_servers_jupyter_folders_hold_no_code() -> None:
    files = [p for p in lockdown.SERVER_HOME.rglob("*") if p.is_file()]
    assert files and all(p.suffix != ".py" for p in files)
    # Jupyter finds nothing to migrate into them (it would write there otherwise)
    assert (lockdown.SERVER_HOME / "config" / "migrated").is_file()
    for folder in (lockdown.SERVER_HOME / "config", lockdown.SERVER_HOME / "data"):
        assert not os.stat(folder).st_mode & (stat.S_IWGRP | stat.S_IWOTH)
