"""Secrets generated on first run, kept in 0600 files, never logged."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from coursehub.config.layout import DataLayout
from coursehub.config.translate.jupyterhub import HubSecrets
from coursehub.core.errors import SetupError

MIN_SECRET_BYTES = 32
NAMES = ("cookie_secret", "proxy_token", "service_token", "cli_token")


def ensure_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def ensure_secret(path: Path) -> str:
    """Read the secret at `path`, creating a fresh random one if missing."""
    if not path.exists():
        ensure_private_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return read_secret(path)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(MIN_SECRET_BYTES) + "\n")
    return read_secret(path)


def check_private(path: Path) -> None:
    """Refuse a secret file other accounts may read, saying how to fix it."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SetupError(
            f"{path} can be read by other accounts (mode {stat.filemode(mode)}); "
            f"run `chmod 600 {path}` and try again"
        )


def read_secret(path: Path) -> str:
    """A secret file must be private and long enough, or coursehub refuses to start."""
    check_private(path)
    value = path.read_text().strip()
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise SetupError(
            f"{path} holds a secret shorter than {MIN_SECRET_BYTES} bytes; "
            "delete it and coursehub will generate a new one"
        )
    return value


def ensure_hub_secrets(layout: DataLayout, github_secret_file: Path | None = None) -> HubSecrets:
    for name in NAMES:
        ensure_secret(layout.secret_file(name))
    github = None
    if github_secret_file is not None:
        try:
            github = read_secret(github_secret_file)
        except FileNotFoundError:
            raise SetupError(
                f"GitHub client secret file {github_secret_file} does not exist; "
                "create it (mode 600) with the secret of your GitHub OAuth app"
            ) from None
    return HubSecrets(
        proxy_token=read_secret(layout.secret_file("proxy_token")),
        service_token=read_secret(layout.secret_file("service_token")),
        cli_token=read_secret(layout.secret_file("cli_token")),
        github_client_secret=github,
    )
