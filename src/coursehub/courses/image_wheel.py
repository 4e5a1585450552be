"""Where images get coursehub from: a wheel placed next to their Containerfile.

coursehub is installed into images from a wheel of the very version the hub runs, so
the server extension inside speaks the same events API as the service.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from urllib.parse import unquote, urlsplit

WHEEL_GLOB = "coursehub-*.whl"


def coursehub_version() -> str:
    try:
        return distribution("coursehub").version
    except PackageNotFoundError:
        return "0+unknown"


def wheel_command(outdir: Path) -> str:
    """The command that puts coursehub's wheel into `outdir`."""
    source = _source_tree()
    target = str(source) if source else f"coursehub=={coursehub_version()}"
    return f"python3 -m pip wheel --no-deps --wheel-dir {outdir} {target}"


def _source_tree() -> Path | None:
    """The checkout coursehub was installed from (pip install [-e] DIR), if any."""
    try:
        text = distribution("coursehub").read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        url = json.loads(text).get("url", "")
    except ValueError:
        return None
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    path = Path(unquote(parts.path))
    return path if (path / "pyproject.toml").is_file() else None
