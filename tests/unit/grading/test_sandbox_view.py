"""Which host paths a grading sandbox shows, and what doctor is told about its memory
cgroup: decided from files alone, checked here on fake installations and cgroup trees."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from coursehub.engines.limits import Cgroups
from coursehub.grading.sandbox_support import memory_cgroup_support
from coursehub.grading.sandbox_view import NEVER, SYSTEM_PATHS, python_paths, readonly_paths


def _venv(root: Path, home: str = "/usr/bin") -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    (root / "pyvenv.cfg").write_text(f"home = {home}\ninclude-system-site-packages = false\n")
    site = root / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    return site


def test_a_venv_brings_its_folder_its_base_and_its_editable_sources(tmp_path: Path) -> None:
    site = _venv(tmp_path / "env")
    src = tmp_path / "checkout" / "src"
    src.mkdir(parents=True)
    (site / "__editable__.pkg.pth").write_text(f"{src}\n")
    (site / "evil.pth").write_text("import os; os.system('id')\n")  # never run, never a path
    found = python_paths(str(tmp_path / "env" / "bin" / "python"))
    assert str(tmp_path / "env") in found and str(src) in found and "/usr" in found
    assert not any("import" in p for p in found)
    assert str(tmp_path / "checkout") not in found  # only the folder the .pth names


def test_the_view_never_holds_the_host_root_or_its_socket_folders(tmp_path: Path) -> None:
    shown = readonly_paths([sys.executable, "/bin/python3", "python3"], ["/run", "/"])
    assert not set(shown) & NEVER
    assert "/usr" in shown and "/etc" in shown
    assert all(not p.startswith("/usr/") for p in shown)  # inside /usr already


def test_a_symlinked_prefix_is_shown_as_the_link_and_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real-env"
    _venv(real)
    (tmp_path / "env").symlink_to(real)
    shown = readonly_paths([str(tmp_path / "env" / "bin" / "python")])
    assert str(tmp_path / "env") in shown and str(real) in shown
    assert set(SYSTEM_PATHS) & set(shown)


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups are only written by root")
def test_doctor_is_told_why_there_is_no_memory_cgroup(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    ok, why = memory_cgroup_support(Cgroups(tmp_path))
    assert not ok and "cgroup.controllers has no writable memory controller" in why
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    ok, why = memory_cgroup_support(Cgroups(tmp_path))
    assert ok and "cgroup v2" in why
