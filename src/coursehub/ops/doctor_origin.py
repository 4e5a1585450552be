"""`coursehub doctor`: whether students' code can run on the hub's origin."""

from __future__ import annotations

from urllib.parse import urlsplit

from coursehub.config.models import CoursehubConfig
from coursehub.config.translate.jupyterhub import public_url
from coursehub.ops.doctor import Check


def subdomains_check(config: CoursehubConfig) -> Check:
    """site.user_subdomains: on, students' JupyterLab and outputs run on their own
    origin; off, on the hub's, so the live view's Help is read-only."""
    url = public_url(config)
    if not config.site.user_subdomains:
        return Check(
            "subdomains",
            "warn",
            "off: students' JupyterLab, extensions and notebook outputs run on the hub's "
            "origin, so staff cannot safely open them (the live view's Help is read-only)",
            "give the hub a host name with wildcard DNS (and a wildcard certificate), "
            "then set site.public_url: https://hub.example.edu and site.user_subdomains: true",
        )
    host = urlsplit(url).hostname or ""
    if urlsplit(url).scheme != "https" and host != "localhost" and not host.endswith(".localhost"):
        return Check(
            "subdomains",
            "warn",
            f"on ({url}; users at <user>.{host}) but over http: cookies travel in clear",
            "put HTTPS with a wildcard certificate in front and set site.public_url: https://...",
        )
    return Check(
        "subdomains",
        "ok",
        f"on: users' servers at <user>.{host}, the hub and the coursehub service at {url}",
    )
