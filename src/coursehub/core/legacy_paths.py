"""Site paths of links published for other systems, which the proxy sends to the
coursehub service (config/translate writes the routes, the service answers them).

JupyterHub's `/hub/user-redirect/` would send an nbgitpuller link to a default server
that coursehub does not use; nbhosting's paths are not the hub's at all. Each path here
is a route of its own in the proxy (JupyterHub's `Proxy.extra_routes`), so the hub's own
routes stay untouched.
"""

from __future__ import annotations

# nbgitpuller: /hub/user-redirect/git-pull, and the two names it still answers.
GIT_PULL_PATHS = (
    "/hub/user-redirect/git-pull",
    "/hub/user-redirect/git-sync",
    "/hub/user-redirect/interact",
)
# nbhosting: /notebookLazyCopy/<course>/<notebook>/<student>, and its older name.
NBHOSTING_PATHS = ("/notebookLazyCopy", "/ipythonExercice")

LEGACY_PATHS = GIT_PULL_PATHS + NBHOSTING_PATHS


def proxy_routes(target: str, hub_host: str = "") -> dict[str, str]:
    """`Proxy.extra_routes`: each legacy path to the service at `target`. `hub_host`:
    the hub's host name when the proxy routes by host (site.user_subdomains)."""
    return {f"{hub_host}{path}/": target for path in LEGACY_PATHS}
