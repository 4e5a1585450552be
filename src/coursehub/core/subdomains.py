"""Per-user subdomains (site.user_subdomains): where each user's servers live.

With subdomains, JupyterHub serves user `nina`'s servers at `nina.<hub host>` while the
hub and the coursehub service stay at the hub's own host. A student's JupyterLab,
extensions and notebook outputs then run on an origin of their own, so a staff member
who opens them (live view "Help") lends them no cookie of the hub or the service.

The hub (its `subdomain_hook`) and the service (links, requests to servers) name
hosts with the same function here, so they always agree.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit


def subdomain_hook(name: str, domain: str, kind: str) -> str:
    """JupyterHub's `subdomain_hook`: users at JupyterHub's own (IDNA) subdomain of
    `domain`; services at the hub's domain itself, so the service's pages, cookies and
    links stay where they are without subdomains."""
    if kind == "service":
        return domain
    from jupyterhub.utils import subdomain_hook_idna

    return str(subdomain_hook_idna(name, domain, kind))


def user_host(subdomain_host: str, username: str) -> str:
    """`scheme://<user's domain>[:port]` of `username`'s servers under `subdomain_host`."""
    parts = urlsplit(subdomain_host)
    domain = subdomain_hook(username, parts.hostname or "", "user")
    return f"{parts.scheme}://{domain}" + (f":{parts.port}" if parts.port else "")


def users_source(subdomain_host: str) -> str:
    """Every user's host as one CSP source: `scheme://*.<hub host>[:port]`."""
    parts = urlsplit(subdomain_host)
    return f"{parts.scheme}://*.{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def server_url(base_url: str, subdomain_host: str, username: str, server: str) -> str:
    """The URL of one named server (ending in '/'): a path without subdomains, a full
    URL on the user's own host with them."""
    path = f"{base_url}user/{quote(username, safe='')}/{quote(server, safe='')}/"
    return f"{user_host(subdomain_host, username)}{path}" if subdomain_host else path


def host_header(subdomain_host: str, username: str) -> dict[str, str]:
    """Headers that route a request sent to the proxy's own address to `username`'s
    servers (the proxy routes by host with subdomains); empty without them."""
    if not subdomain_host:
        return {}
    return {"Host": urlsplit(user_host(subdomain_host, username)).netloc}
