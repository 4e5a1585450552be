"""Jupyter configuration every student server loads (JUPYTER_CONFIG_PATH points here)."""

from __future__ import annotations

import json
import os
from pathlib import Path

CONFIG_DIR = Path(__file__).parent
PACKAGED_LAB_SETTINGS = CONFIG_DIR / "lab-settings"
MAINMENU = "@jupyterlab/mainmenu-extension:plugin"
DOCMANAGER = "@jupyterlab/docmanager-extension:plugin"
# nbgrader's notebook-side extensions, installed for the grading service: off in
# every student server (jupyter_server_config.py), so never preloaded either.
NBGRADER_SERVER_EXTENSIONS = tuple(
    f"nbgrader.server_extensions.{name}"
    for name in ("formgrader", "validate_assignment", "assignment_list", "course_list")
)


def write_lab_settings(dest: Path, autosave_seconds: int, hub_origin: str = "") -> Path:
    """The site's JupyterLab setting defaults under `dest` (readable by every student):
    the packaged ones plus the autosave interval of coursehub.yaml. `hub_origin`: with
    per-user subdomains, where the Course menu's service pages are (servers are on
    other hosts). Returns `dest`."""
    overrides = json.loads((PACKAGED_LAB_SETTINGS / "overrides.d" / "coursehub.json").read_text())
    if hub_origin:
        for menu in overrides.get(MAINMENU, {}).get("menus", []):
            for item in menu.get("items", []):
                url = item.get("args", {}).get("url", "")
                if url.startswith("/"):
                    item["args"]["url"] = hub_origin.rstrip("/") + url
    docmanager = overrides.setdefault(DOCMANAGER, {})
    docmanager["autosave"] = autosave_seconds > 0
    if autosave_seconds > 0:
        docmanager["autosaveInterval"] = autosave_seconds
    folder = dest / "overrides.d"
    folder.mkdir(parents=True, exist_ok=True)
    for d in (dest, folder):
        os.chmod(d, 0o755)
    target = folder / "coursehub.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(overrides, indent=2) + "\n")
    os.chmod(tmp, 0o644)
    tmp.replace(target)
    return dest
