"""The site's JupyterLab settings: the Course menu reaches the service's pages, which
with per-user subdomains live on the hub's host, not the server's."""

from __future__ import annotations

import json
from pathlib import Path

from coursehub.student.jupyter_config import write_lab_settings


def _menu_urls(dest: Path) -> list[str]:
    settings = json.loads((dest / "overrides.d" / "coursehub.json").read_text())
    menus = settings["@jupyterlab/mainmenu-extension:plugin"]["menus"]
    return [item["args"]["url"] for menu in menus for item in menu["items"] if "args" in item]


def test_the_course_menu_submits_the_open_assignment_first(tmp_path: Path) -> None:
    settings = json.loads(
        (write_lab_settings(tmp_path, 5) / "overrides.d" / "coursehub.json").read_text()
    )
    (menu,) = settings["@jupyterlab/mainmenu-extension:plugin"]["menus"]
    assert menu["items"][0] == {"command": "coursehub:submit", "rank": 0}


def test_the_course_menu_points_at_the_hubs_host_with_subdomains(tmp_path: Path) -> None:
    same = write_lab_settings(tmp_path / "same", 5)
    assert _menu_urls(same) == ["/services/coursehub/assignments", "/services/coursehub/"]
    apart = write_lab_settings(tmp_path / "apart", 5, "https://hub.example.edu")
    assert _menu_urls(apart) == [
        "https://hub.example.edu/services/coursehub/assignments",
        "https://hub.example.edu/services/coursehub/",
    ]
