"""Called from the generated jupyterhub_config.py: coursehub.yaml -> JupyterHub config."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
from pathlib import Path
from typing import Any

from coursehub.config.layout import DataLayout, Ports, python_command
from coursehub.config.loader import load_config
from coursehub.config.machine import effective_config
from coursehub.config.secrets import ensure_hub_secrets
from coursehub.config.translate.jupyterhub import (
    Machine,
    coursehub_database_url,
    forks_here,
    subdomain_host,
    translate,
)
from coursehub.config.translate.services import backup_environment
from coursehub.core.roles import SERVICE_NAME
from coursehub.core.subdomains import subdomain_hook
from coursehub.db.hub_sqlite import hub_db_kwargs
from coursehub.db.session import keep_private
from coursehub.hub.course_links import LinkSite
from coursehub.hub.user_redirect import user_redirect_hook_for

log = logging.getLogger("coursehub.hub")


def configure(c: Any, config_path: str) -> None:
    """Apply coursehub.yaml (and the extra config directory) to the hub's config `c`."""
    loaded = load_config(config_path)
    config = effective_config(loaded.config)
    layout = DataLayout(config.site.data_dir)
    ports = Ports.read(layout.ports_file)
    if ports is None:
        raise RuntimeError(f"{layout.ports_file} is missing: start the hub with `coursehub up`")
    gh = config.auth.github
    secrets = ensure_hub_secrets(layout, gh.client_secret_file if gh else None)
    machine = Machine(python=python_command(), cpu_count=os.cpu_count() or 1)
    for section, values in translate(config, layout, ports, secrets, machine).items():
        for key, value in values.items():
            setattr(c[section], key, value)
    if config.site.user_subdomains:
        # Users at their own subdomain, the coursehub service at the hub's host (a
        # function, so translation, which writes plain values, cannot carry it).
        c.JupyterHub.subdomain_hook = subdomain_hook
    # /hub/user-redirect/… leads to a course server, never the unused default one, and
    # opens course notebook links the service hands over (hub/course_links.py).
    c.JupyterHub.user_redirect_hook = user_redirect_hook_for(
        LinkSite(
            layout=layout,
            database_url=coursehub_database_url(config, layout),
            backend=config.spawn.backend,
            user_prefix=config.spawn.local.user_prefix,
            subdomain_host=subdomain_host(config),
        )
    )
    keep_private(c.JupyterHub.db_url)  # before JupyterHub makes it, readable by all
    # WAL mode: commits on the hub's event loop no longer wait for fsyncs (a class
    # instance, so set here: translation writes plain values).
    c.JupyterHub.db_kwargs = hub_db_kwargs(c.JupyterHub.db_url)
    # Scheduled backups need coursehub.yaml's own path, which translation does not know.
    for service in c.JupyterHub.services:
        if service["name"] == SERVICE_NAME:
            service["environment"].update(backup_environment(loaded))
    if config.extra_config_dir is not None:
        _load_extra(c, config.extra_config_dir)
        _trust_only_our_tokens(c, {secrets.service_token, secrets.cli_token})
    if forks_here(config):
        # Start importing now, so the first students of the day get forked servers.
        from coursehub.forking.servers.manager import server_template

        template = server_template(
            layout.server_template_socket, machine.python, layout.logs / "server-template.log"
        )
        template.start()
        # Stopped with the hub (its servers keep running), not a second after it: when
        # `up` has returned, nothing of the site is left running.
        atexit.register(template.stop)
        _keep_kernel_templates(layout)


def _load_extra(c: Any, directory: Path) -> None:
    for path in sorted(directory.glob("*.py")):
        code = compile(path.read_text(), str(path), "exec")
        exec(code, {"c": c, "__file__": str(path)})  # noqa: S102 - admin's own files


def _trust_only_our_tokens(c: Any, ours: set[str]) -> None:
    """Keep JupyterHub's full hashing of config tokens if extra config adds any: those
    may be typed by hand, and trust_user_provided_tokens applies to all of them."""
    if not c.JupyterHub.get("trust_user_provided_tokens"):
        return
    added = [
        *c.JupyterHub.get("service_tokens", {}),
        *c.JupyterHub.get("api_tokens", {}),
        *(s.get("api_token") for s in c.JupyterHub.get("services", []) if s.get("api_token")),
    ]
    if any(token not in ours for token in added):
        log.warning(
            "Extra config adds API tokens of its own: JupyterHub hashes every "
            "configured token fully again (trust_user_provided_tokens off)"
        )
        c.JupyterHub.trust_user_provided_tokens = False


KERNEL_TEMPLATES_EVERY = 5.0  # seconds: how soon a built or rebuilt environment gets one
_kernel_tasks: list[asyncio.Task] = []


def _keep_kernel_templates(layout: DataLayout) -> None:
    """One kernel template per built course environment, kept up to date by the hub
    (started, restarted, replaced after a rebuild) every few seconds."""
    from coursehub.forking.kernels.manager import KernelTemplates, built_courses

    templates = KernelTemplates(layout)
    templates.ensure(built_courses(layout))
    atexit.register(templates.stop_all)  # forked kernels keep running
    try:
        loop = asyncio.get_running_loop()  # JupyterHub loads its config inside its loop
    except RuntimeError:
        return

    async def keep() -> None:
        while True:
            await asyncio.sleep(KERNEL_TEMPLATES_EVERY)
            try:
                templates.ensure(built_courses(layout))
            except Exception:  # noqa: BLE001 - the next round retries; kernels start cold
                log.exception("keeping the kernel templates failed")

    _kernel_tasks.append(loop.create_task(keep()))
