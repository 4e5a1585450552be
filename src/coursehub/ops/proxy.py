"""Finding and starting configurable-http-proxy outside the hub."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from coursehub.core.errors import SetupError

PROXY = "configurable-http-proxy"


def find_proxy() -> str:
    """The proxy on PATH, or the one the set-up command put in the venv."""
    bundled = Path(sys.prefix) / "node" / "node_modules" / ".bin" / PROXY
    if bundled.exists():
        return str(bundled)
    found = shutil.which(PROXY)
    if found:
        return found
    raise SetupError(
        f"{PROXY} is not installed. Run `./dev setup` from the coursehub checkout, or "
        f"`npm install --prefix {Path(sys.prefix) / 'node'} {PROXY}@4`"
    )


def proxy_command(
    proxy: str, bind: str, port: int, api_port: int, hub_port: int, *, host_routing: bool = False
) -> list[str]:
    """The proxy's command line. `host_routing` (site.user_subdomains): routes start with
    a host name, as JupyterHub writes them when users have subdomains."""
    hub = f"http://127.0.0.1:{hub_port}"
    routing = ["--host-routing"] if host_routing else []
    return [
        proxy,
        "--ip",
        bind,
        "--port",
        str(port),
        "--api-ip",
        "127.0.0.1",
        "--api-port",
        str(api_port),
        "--default-target",
        hub,
        "--error-target",
        f"{hub}/hub/error",
        "--log-level",
        "warn",
        *routing,
    ]
