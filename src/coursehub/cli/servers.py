"""`coursehub servers ...`: see and stop student servers of the running hub."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from coursehub.config.layout import DataLayout
from coursehub.config.loader import LoadedConfig
from coursehub.core.errors import CoursehubError
from coursehub.engines.hub_api import HubClient


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("servers", help="list or stop student servers")
    ssub = p.add_subparsers(dest="servers_command", required=True, metavar="ACTION")
    ssub.add_parser("list", help="running and starting servers")
    s = ssub.add_parser("stop", help="stop a student's server(s)")
    s.add_argument("username", nargs="?")
    s.add_argument("--server", default=None, help="only this named server")
    s.add_argument("--all", action="store_true", help="stop every server")
    return p


def run(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    client = HubClient.for_layout(DataLayout(loaded.config.site.data_dir))
    try:
        servers = client.running_servers()
        if args.servers_command == "list":
            table = Table("user", "server", "state", "started", "last activity", "url")
            for user, name, model in servers:
                state = "ready" if model.get("ready") else (model.get("pending") or "?")
                table.add_row(
                    user,
                    name or "(default)",
                    state,
                    (model.get("started") or "")[:19],
                    (model.get("last_activity") or "")[:19],
                    model.get("url") or "",
                )
            console.print(table)
            console.print(f"{len(servers)} server(s)")
            return 0
        if not args.all and not args.username:
            raise CoursehubError("name a user to stop, or pass --all")
        targets = [
            (user, name)
            for user, name, _ in servers
            if args.all or (user == args.username and (args.server is None or name == args.server))
        ]
        if not targets and not args.all:
            raise CoursehubError(f"{args.username} has no running server")
        for user, name in targets:
            client.stop_server(user, name)
            console.print(f"Stopping {user}/{name or '(default)'}")
        return 0
    finally:
        client.close()
