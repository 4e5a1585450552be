"""`python -m coursehub.service`: run the service on the address the hub assigned.

The hub starts this with JUPYTERHUB_* variables (see settings.py). uvicorn's own access
log is off: ours (middleware.py) redacts secrets in query strings and never logs headers.
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
from typing import Any

import uvicorn

from coursehub.core.logs import ENV as LOG_ENV
from coursehub.core.logs import FORMATS as LOG_FORMATS
from coursehub.core.logs import make_formatter
from coursehub.service.settings import ServiceConfigError, ServiceSettings


def configure_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    """One record per line on stderr: readable JupyterHub-style text, or JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # HubAuth's debug records include user models and token-hash cache keys.
    for name in ("tornado", "tornado.application", "jupyterhub", "httpx", "httpcore", "alembic"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def main() -> int:
    try:
        settings = ServiceSettings.from_env(os.environ)
    except ServiceConfigError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    fmt = os.environ.get(LOG_ENV, "text").strip() or "text"
    if fmt not in LOG_FORMATS:
        print(f"{LOG_ENV}={fmt!r}: expected one of {', '.join(LOG_FORMATS)}", file=sys.stderr)
        return 2
    configure_logging(fmt=fmt)
    from coursehub.service.app import create_app

    ssl_options: dict[str, Any] = {}
    if settings.service_url.startswith("https:") and settings.ssl_certfile:
        # The hub's internal SSL: serve with the certificate it issued for us.
        ssl_options = {
            "ssl_keyfile": settings.ssl_keyfile,
            "ssl_certfile": settings.ssl_certfile,
            "ssl_ca_certs": settings.ssl_client_ca or None,
            # Like JupyterHub's internal servers: peers must present a hub-issued cert.
            "ssl_cert_reqs": ssl.CERT_REQUIRED if settings.ssl_client_ca else ssl.CERT_NONE,
        }
    logging.getLogger("coursehub.service").info(
        "coursehub service %s for %s on %s:%s%s",
        settings.version,
        settings.site_name,
        settings.bind_host,
        settings.bind_port,
        settings.service_prefix,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.bind_host,
        port=settings.bind_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        server_header=False,
        # The proxy keeps idle connections to us open and reuses them. If we closed an
        # idle one first (uvicorn's default is after 5 s), a request sent on it at that
        # moment fails with "socket hang up" and the user gets a 503 page. Outlast the
        # proxy's idle sockets instead.
        timeout_keep_alive=75,
        **ssl_options,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
