"""Nothing a student wrote runs in their course server.

A course server runs as its student, and everything in their home is theirs to write:
`~/.jupyter` (Python config files, extension switches), `~/.local` (a user site whose
`.pth` files and `usercustomize` run at start-up, `etc/jupyter`, `share/jupyter`) and
the course workspace the server starts in. Code from any of them would run inside the
server and see every request it gets. So:

- every spawner starts the server with SERVER_ENV: no user site (PYTHONNOUSERSITE),
  no working directory on `sys.path` (PYTHONSAFEPATH; `python -m` would put it first),
  and JupyterHub's own switch that drops Jupyter config and data paths under $HOME
  (JUPYTERHUB_DISABLE_USER_CONFIG). The forked servers' template runs with the same
  two Python variables, so its children start with the same `sys.path`;
- `lock_down()`, first thing in the server's entry point, points Jupyter's user config
  and data folders at coursehub's own read-only ones (JUPYTER_CONFIG_DIR,
  JUPYTER_DATA_DIR), keeps in the home what must stay writable and is only data to the
  server (runtime files; JupyterLab's user settings and workspaces, JSON it reads and
  serves back), takes anything under the home off `sys.path`, and then clears the two
  Python variables again.

Kernels and terminals keep the student's usual Python: `~/.ipython` start-up files, the
notebook's folder on the kernel's path, and their `pip install --user` packages where
the interpreter has a user site at all (a venv, as coursehub's and courses' are, has
none).
A kernel is the student's own process, started by the server, and holds nothing of
anyone else; it never sees a request to the server.
"""

from __future__ import annotations

import os
import site
import sys
from collections.abc import MutableMapping
from pathlib import Path

SERVER_HOME = Path(__file__).parent / "jupyter_config" / "server-home"
# What every spawner puts in a course server's environment (cleared again by lock_down,
# so that kernels and terminals do not inherit the first two).
SERVER_ENV = {
    "PYTHONNOUSERSITE": "1",
    "PYTHONSAFEPATH": "1",
    "JUPYTERHUB_DISABLE_USER_CONFIG": "1",
}
_PYTHON_ONLY = ("PYTHONNOUSERSITE", "PYTHONSAFEPATH")


def server_environment(home: str) -> dict[str, str]:
    """The Jupyter folders of a server whose student's home is `home`: config and data
    from coursehub, what the server writes in the home."""
    return {
        "JUPYTERHUB_DISABLE_USER_CONFIG": "1",
        "JUPYTER_CONFIG_DIR": str(SERVER_HOME / "config"),
        "JUPYTER_DATA_DIR": str(SERVER_HOME / "data"),
        "JUPYTER_RUNTIME_DIR": os.path.join(home, ".local", "share", "jupyter", "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": os.path.join(home, ".jupyter", "lab", "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": os.path.join(home, ".jupyter", "lab", "workspaces"),
    }


def _resolved(path: str) -> Path | None:
    try:
        return Path(path or ".").resolve()
    except (OSError, RuntimeError):
        return None


def _from_home(path: str, home: Path, cwd: Path | None) -> bool:
    """Whether a sys.path entry is the student's to write: in their home (but not the
    Python installation or coursehub itself, should those lie there), or the working
    directory that `python -m` puts first."""
    where = _resolved(path)
    if where is None:
        return True  # unresolvable: not worth the risk
    if path == "" or (cwd is not None and where == cwd):
        return True
    ours = [sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).parents[2])]
    if any(where.is_relative_to(t) for t in filter(None, map(_resolved, ours))):
        return False
    return home != Path("/") and where.is_relative_to(home)


def lock_down(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Make this process a server that loads nothing from the student's home (see the
    module docstring); returns the `sys.path` entries it took away."""
    home = environ.get("HOME") or os.path.expanduser("~")
    if site.ENABLE_USER_SITE and "PYTHONNOUSERSITE" not in environ:
        # code in ~/.local may already have run: say so in the server's log
        print(
            "coursehub: this server started with the user site enabled; start it with "
            "PYTHONNOUSERSITE=1 (coursehub's spawners do)",
            file=sys.stderr,
        )
    site.ENABLE_USER_SITE = False  # jupyter_core adds ~/.local/etc and share otherwise
    environ.update(server_environment(home))
    cwd = None if sys.flags.safe_path or "PYTHONSAFEPATH" in environ else _resolved("")
    removed = [p for p in sys.path if _from_home(p, Path(home).resolve(), cwd)]
    sys.path[:] = [p for p in sys.path if p not in removed]
    for name in _PYTHON_ONLY:
        environ.pop(name, None)
    return removed
