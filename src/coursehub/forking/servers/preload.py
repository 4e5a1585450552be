"""What the template imports before it forks: the single-user server stack and
every server extension the site's Jupyter configuration enables.

Importing is most of a server's start-up cost; a child forked after these imports
only has to run the server.
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import threading
from pathlib import Path

# The stack every coursehub student server runs (see coursehub.student.singleuser).
CORE_MODULES = (
    "jupyterhub.singleuser",
    "jupyterhub.singleuser.extension",
    "jupyter_server.serverapp",
    "jupyter_server.services.contents.largefilemanager",
    "jupyter_server.services.kernels.kernelmanager",
    "jupyter_server.services.sessions.sessionmanager",
    "jupyter_server.gateway.managers",
    "jupyter_client.manager",
    "jupyter_client.provisioning.local_provisioner",
    "jupyterlab",
    "jupyterlab.labapp",
    "jupyterlab_server",
    "nbformat",
    "coursehub.student.events",
    "coursehub.student.jupyter_config",
    # imported while the server initialises (measured on a running server)
    "IPython",
    "jinja2.ext",
    "jupyter_core.migrate",
    "tornado.platform.asyncio",
    "notebook.app",
    "notebook_shim.nbserver",
    "jupyter_lsp.virtual_documents_shadow",
)


def service_handlers() -> list[str]:
    """The request handlers jupyter_server imports by name when it starts."""
    try:
        from jupyter_server.serverapp import JUPYTER_SERVICE_HANDLERS
    except ImportError:
        return []
    return [m for modules in JUPYTER_SERVICE_HANDLERS.values() for m in modules or ()]


def enabled_extensions(config_dirs: list[Path]) -> list[str]:
    """Server extensions switched on in jupyter_server_config.d/*.json of these dirs."""
    names: dict[str, bool] = {}
    for directory in config_dirs:
        for path in sorted((directory / "jupyter_server_config.d").glob("*.json")):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # the server itself will complain about a broken file
            extensions = data.get("ServerApp", {}).get("jpserver_extensions", {})
            if isinstance(extensions, dict):
                names.update({str(k): bool(v) for k, v in extensions.items()})
    return [name for name, on in names.items() if on]


def preload(modules: list[str]) -> tuple[list[str], dict[str, str]]:
    """Import `modules`; return the ones imported and the failures with their reason.

    A module that fails to import is left to the server, which reports it in its log.
    """
    # As coursehub.student.singleuser does: skip the 2 CPU-s grammar compile of an
    # unused format check.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    done: list[str] = []
    failed: dict[str, str] = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import error is the server's to report
            failed[name] = f"{type(exc).__name__}: {exc}"
        else:
            done.append(name)
    # Objects made so far are never collected by the children: keeping the garbage
    # collector away from them keeps their pages shared with the template.
    gc.collect()
    gc.freeze()
    return done, failed


def threads_running() -> int:
    """Threads besides the main one: forking then would copy a process mid-work."""
    return threading.active_count() - 1
