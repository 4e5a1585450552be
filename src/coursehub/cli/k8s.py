"""`coursehub k8s render OUTDIR`: print what was written and the one-time steps."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from coursehub.config.loader import LoadedConfig
from coursehub.config.translate import k8s_names as names


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("k8s", help="run coursehub on Kubernetes (Zero-to-JupyterHub)")
    ksub = p.add_subparsers(dest="k8s_command", required=True, metavar="ACTION")
    r = ksub.add_parser(
        "render",
        help="write the Helm values and coursehub's manifests for spawn.backend kubernetes",
    )
    r.add_argument("outdir", metavar="OUTDIR", help="folder to write into (made if needed)")
    return p


def run(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    from coursehub.ops.k8s_render import render

    done = render(loaded.config, Path(args.outdir))
    k8s = loaded.config.spawn.kubernetes
    assert k8s is not None
    for path in done.files:
        console.print(f"Wrote {path}", markup=False)
    if done.validated:
        console.print(f"Every manifest matches the Kubernetes {names.K8S_VERSION} schemas.")
    else:
        console.print(
            "[yellow]Manifests not checked[/yellow]: pip install 'coursehub[kubernetes]' "
            "to check them against the Kubernetes schemas."
        )
    for note in done.notes:
        console.print(f"[yellow]Note[/yellow]: {note}")
    out = done.outdir
    ns = f"--namespace {k8s.namespace}"
    steps = [
        "Build and push the hub image (once per coursehub version):",
        f"  {done.wheel_command}",
        f"  docker build -t {k8s.hub_image} {out / 'hub-image'} && docker push {k8s.hub_image}",
        "Create the namespace and the Secrets (once; values never go into these files):",
        f"  kubectl create namespace {k8s.namespace}",
        *(f"  {c}" for c in done.secret_commands),
        "Install or update the chart, then coursehub's own objects:",
        f"  helm repo add jupyterhub {names.CHART_REPO} && helm repo update",
        "  # the chart checks the values against its own schema (add --validate to have",
        "  # the cluster check the manifests too); nothing is installed",
        f"  helm template {k8s.release} jupyterhub/jupyterhub {ns} "
        f"--version {names.CHART_VERSION} --values {out / 'values.yaml'} > /dev/null",
        f"  helm upgrade --install {k8s.release} jupyterhub/jupyterhub {ns} "
        f"--version {names.CHART_VERSION} --values {out / 'values.yaml'}",
        f"  kubectl apply {ns} -f {out / 'coursehub-extras.yaml'}",
    ]
    console.print("\nNext steps (docs/kubernetes.md):", markup=False)
    for line in steps:
        console.print(line, markup=False)
    return 0
