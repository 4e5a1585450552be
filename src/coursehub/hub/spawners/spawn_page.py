"""Errors that reach the spawn page."""

from __future__ import annotations

from tornado import web


def spawn_page_error(status: int, reason: str, shown: str) -> web.HTTPError:
    """An HTTPError for a failed start. JupyterHub passes an HTTPError through to the
    spawn page, even when the start fails at once; its `jupyterhub_message` (`shown`)
    replaces the generic "failed to start" text."""
    error = web.HTTPError(status, reason)
    # an attribute of JupyterHub's convention, unknown to tornado's class
    error.jupyterhub_message = shown  # type: ignore[attr-defined]
    return error
