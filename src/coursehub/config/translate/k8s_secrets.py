"""The Secrets an admin creates once, by hand: never written into rendered files."""

from __future__ import annotations

from coursehub.config.models import CoursehubConfig
from coursehub.config.translate import k8s_names as names
from coursehub.config.translate.helm import kubernetes_section


def secret_commands(config: CoursehubConfig) -> list[str]:
    """`kubectl create secret` commands, with placeholders where the values go."""
    k8s = kubernetes_section(config)
    ns = f"kubectl --namespace {k8s.namespace}"
    commands = [
        f"{ns} create secret generic {names.DB_SECRET} "
        "--from-literal=password='THE-DATABASE-PASSWORD'"
    ]
    if "github" in config.auth.methods and config.auth.github is not None:
        commands.append(
            f"{ns} create secret generic {names.GITHUB_SECRET} "
            f"--from-file=client-secret={config.auth.github.client_secret_file}"
        )
    files: list[str] = []
    jwt = config.auth.jwt
    if "jwt" in config.auth.methods and jwt is not None:
        if jwt.secret_file:
            files.append(f"--from-file=jwt-secret={jwt.secret_file}")
        if jwt.public_key_file:
            files.append(f"--from-file=jwt-public-key.pem={jwt.public_key_file}")
    remote = config.grading.remote_api
    if remote.enabled:
        if remote.secret_file:
            files.append(f"--from-file=grading-secret={remote.secret_file}")
        if remote.public_key_file:
            files.append(f"--from-file=grading-public-key.pem={remote.public_key_file}")
    if files:
        commands.append(f"{ns} create secret generic {names.KEYS_SECRET} " + " ".join(files))
    return commands
