"""The proxy sends the links teachers published for nbgitpuller and nbhosting to the
coursehub service, through JupyterHub's own `Proxy.extra_routes` (nothing of the hub is
patched), on one machine and in the Kubernetes chart's values."""

from __future__ import annotations

from pathlib import Path

from jupyterhub.app import JupyterHub
from jupyterhub.proxy import ConfigurableHTTPProxy

from coursehub.config.layout import DataLayout, Ports
from coursehub.config.loader import load_config
from coursehub.config.translate.helm import helm_values
from coursehub.config.translate.jupyterhub import HubSecrets, Machine, translate
from coursehub.config.translate.k8s_names import SERVICE_PORT
from coursehub.core.legacy_paths import LEGACY_PATHS
from tests.helpers.k8s_site import load_site

PORTS = Ports(hub=18081, proxy_api=18001, service=18090)


def _routes(text: str, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "coursehub.yaml").write_text(text)
    config = load_config(tmp_path / "coursehub.yaml").config
    secrets = HubSecrets("p", "s", "c")
    c = translate(config, DataLayout(config.site.data_dir), PORTS, secrets, Machine("py", 1))
    return c["ConfigurableHTTPProxy"]["extra_routes"]


def _accepted_by_jupyterhub(routes: dict[str, str], subdomain_host: str = "") -> dict:
    """JupyterHub's own validation of Proxy.extra_routes (it refuses a routespec
    without a host under subdomains, and one with a host without)."""
    hub = JupyterHub(subdomain_host=subdomain_host)
    proxy = ConfigurableHTTPProxy(app=hub, auth_token="x", extra_routes=routes)
    return dict(proxy.extra_routes)


def test_every_legacy_path_is_routed_to_the_service(tmp_path: Path) -> None:
    routes = _routes("", tmp_path)
    assert routes == {f"{p}/": "http://127.0.0.1:18090" for p in LEGACY_PATHS}
    assert "/hub/user-redirect/git-pull/" in routes and "/notebookLazyCopy/" in routes
    # only these: the hub's own /hub/user-redirect/ stays the hub's
    assert "/hub/user-redirect/" not in routes and "/hub/" not in routes
    assert _accepted_by_jupyterhub(routes) == routes


def test_with_user_subdomains_the_routes_name_the_hubs_host(tmp_path: Path) -> None:
    text = "site:\n  public_url: https://hub.example.org:8443\n  user_subdomains: true\n"
    routes = _routes(text, tmp_path)
    assert set(routes) == {f"hub.example.org{p}/" for p in LEGACY_PATHS}
    accepted = _accepted_by_jupyterhub(routes, "https://hub.example.org:8443")
    assert accepted == routes


def test_the_chart_values_route_them_to_the_service_in_the_cluster(tmp_path: Path) -> None:
    values = helm_values(load_site(tmp_path).config)
    routes = values["hub"]["config"]["ConfigurableHTTPProxy"]["extra_routes"]
    assert set(routes) == {f"{p}/" for p in LEGACY_PATHS}
    assert set(routes.values()) == {f"http://coursehub:{SERVICE_PORT}"}
