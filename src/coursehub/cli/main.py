"""The `coursehub` command: parse, call library code, print, pick an exit code."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from coursehub.core.errors import ConfigError, CoursehubError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

LOG_STYLES = {"hub": "cyan", "proxy": "magenta", "up": "bold green"}


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("COURSEHUB_CONFIG") or "coursehub.yaml")


def _load(args: argparse.Namespace):  # noqa: ANN202 - LoadedConfig, imported lazily
    from coursehub.config.loader import load_config

    return load_config(_config_path(args))


# --- init / config ---------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from coursehub.ops.init_site import init_site

    result = init_site(
        Path(args.directory),
        port=args.port,
        site_name=args.name,
        demo_accounts=not args.no_demo_accounts,
        force=args.force,
    )
    console.print(f"Wrote {result.config_file}")
    console.print(f"Demo course in {result.course_dir}")
    if result.credentials:
        console.print("Demo accounts (also in demo-credentials.txt, mode 600):")
        for name, role, password in result.credentials:
            console.print(f"  {name:<10} {role:<10} {password}", markup=False)
    if not args.no_demo_accounts:
        console.print(f"Next: coursehub --config {result.config_file} up", markup=False)
    else:
        console.print(
            f"Next: coursehub --config {result.config_file} users add NAME --role admin, then `up`",
            markup=False,
        )
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from coursehub.config.machine import effective_config, is_root
    from coursehub.config.translate.jupyterhub import public_url
    from coursehub.core.reach import closed_folders, unreachable_message

    loaded = _load(args)
    config = effective_config(loaded.config)
    console.print(f"[green]OK[/green]: {loaded.path} is valid")
    console.print(f"  site:     {config.site.name} at {public_url(config)}", markup=False)
    console.print(f"  data:     {config.site.data_dir}", markup=False)
    console.print(f"  sign-in:  {', '.join(config.auth.methods)}", markup=False)
    console.print(f"  servers:  {config.spawn.backend} backend", markup=False)
    if config.spawn.backend != loaded.config.spawn.backend:
        console.print("  [yellow]not running as root: the demo backend will be used[/yellow]")
    elif is_root() and (closed := closed_folders(config.site.data_dir)):
        what = f"warning: the data directory {config.site.data_dir}"
        text = unreachable_message(what, closed, "student accounts or the build account")
        console.print(f"  [yellow]{escape(text)}[/yellow]")
    from coursehub.ops.config_check import team_course_warnings

    for warning in team_course_warnings(loaded):
        console.print(f"  [yellow]warning:[/yellow] {escape(warning)}")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    from coursehub.config import show

    if args.help_all:
        console.print(show.help_all(), markup=False)
        return 0
    loaded = _load(args)
    text = show.jupyterhub_view(loaded) if args.jupyterhub else show.yaml_view(loaded)
    console.print(text, markup=False)
    return 0


# --- run -------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    from coursehub.ops.supervisor import Supervisor

    loaded = _load(args)

    prefixes: dict[str, str] = {}

    def say(name: str, line: str) -> None:
        if loaded.config.site.log_format == "json":
            from coursehub.core.logs import wrap_line

            print(wrap_line(name, line), flush=True)
            return
        if name == "up":
            console.print(f"{name:>5} │ ", style=LOG_STYLES.get(name, ""), end="")
            console.print(line, markup=False, soft_wrap=True)
            return
        # Lines of the hub and the proxy (thousands a minute when a class starts) go
        # out as they are, behind a prefix styled once: the terminal renderer would
        # cost more CPU than the hub spent writing them.
        prefix = prefixes.get(name)
        if prefix is None:
            with console.capture() as styled:
                console.print(f"{name:>5} │ ", style=LOG_STYLES.get(name, ""), end="")
            prefix = prefixes[name] = styled.get()
        sys.stdout.write(f"{prefix}{line}\n")
        sys.stdout.flush()

    return asyncio.run(Supervisor(loaded, say, keep_servers=args.keep_servers).run())


def cmd_restart(args: argparse.Namespace) -> int:
    from coursehub.ops.control import restart_hub

    pid = restart_hub(_load(args))
    console.print(f"Asked `coursehub up` (pid {pid}) to restart the hub; servers keep running.")
    return 0


# --- users / servers / doctor ---------------------------------------------------------


def cmd_users(args: argparse.Namespace) -> int:
    from coursehub.cli import users as users_cli

    return users_cli.run(args, _load(args), console)


def cmd_course(args: argparse.Namespace) -> int:
    from coursehub.cli import courses as courses_cli

    return courses_cli.run(args, _load(args), console)


def cmd_assignment(args: argparse.Namespace) -> int:
    from coursehub.cli import assignments as assignments_cli

    return assignments_cli.run(args, _load(args), console)


def cmd_servers(args: argparse.Namespace) -> int:
    from coursehub.cli import servers as servers_cli

    return servers_cli.run(args, _load(args), console)


def cmd_lti(args: argparse.Namespace) -> int:
    from coursehub.cli import lti as lti_cli

    return lti_cli.run(args, _load(args), console)


def cmd_backup(args: argparse.Namespace) -> int:
    from coursehub.cli import backup as backup_cli

    return backup_cli.run_backup(args, _load(args), console)


def cmd_restore(args: argparse.Namespace) -> int:
    from coursehub.cli import backup as backup_cli

    return backup_cli.run_restore(args, console)


def cmd_stats(args: argparse.Namespace) -> int:
    from coursehub.cli import stats as stats_cli

    return stats_cli.run(args, _load(args), console)


def cmd_k8s(args: argparse.Namespace) -> int:
    from coursehub.cli import k8s as k8s_cli

    return k8s_cli.run(args, _load(args), console)


def cmd_doctor(args: argparse.Namespace) -> int:
    from coursehub.ops.doctor import print_report, run_checks

    checks = run_checks(_config_path(args))
    return print_report(checks, console)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coursehub", description="A course-first JupyterHub for teaching."
    )
    parser.add_argument(
        "--config",
        "-c",
        help="path to coursehub.yaml (default: $COURSEHUB_CONFIG or ./coursehub.yaml)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="write a commented coursehub.yaml, a demo course and accounts")
    p.add_argument("directory", nargs="?", default=".", help="where to write (default: here)")
    p.add_argument("--port", type=int, default=8000, help="public port (default 8000)")
    p.add_argument("--name", default="coursehub demo", help="site name")
    p.add_argument("--no-demo-accounts", action="store_true", help="do not create demo accounts")
    p.add_argument("--force", action="store_true", help="replace an existing coursehub.yaml")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("config", help="check or show the configuration")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    c = csub.add_parser("check", help="validate coursehub.yaml")
    c.set_defaults(func=cmd_config_check)
    c = csub.add_parser("show", help="print the configuration with every default filled in")
    c.add_argument("--jupyterhub", action="store_true", help="print the JupyterHub settings")
    c.add_argument("--help-all", action="store_true", help="describe every setting")
    c.set_defaults(func=cmd_config_show)

    p = sub.add_parser("up", help="run the hub, proxy and coursehub service in the foreground")
    p.add_argument(
        "--keep-servers", action="store_true", help="leave student servers running on exit"
    )
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("restart", help="restart the hub; student servers keep running")
    p.set_defaults(func=cmd_restart)

    from coursehub.cli.assignments import add_parser as add_assignment
    from coursehub.cli.courses import add_parser as add_course
    from coursehub.cli.lti import add_parser as add_lti
    from coursehub.cli.servers import add_parser as add_servers
    from coursehub.cli.users import add_parser as add_users

    add_users(sub).set_defaults(func=cmd_users)
    add_servers(sub).set_defaults(func=cmd_servers)
    add_course(sub).set_defaults(func=cmd_course)
    add_assignment(sub).set_defaults(func=cmd_assignment)
    add_lti(sub).set_defaults(func=cmd_lti)
    from coursehub.cli.backup import add_parser as add_backup

    backup_p, restore_p = add_backup(sub)
    backup_p.set_defaults(func=cmd_backup)
    restore_p.set_defaults(func=cmd_restore)

    from coursehub.cli.stats import add_parser as add_stats

    add_stats(sub).set_defaults(func=cmd_stats)

    from coursehub.cli.k8s import add_parser as add_k8s

    add_k8s(sub).set_defaults(func=cmd_k8s)

    p = sub.add_parser("doctor", help="check this machine and configuration, with fixes")
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        err_console.print("[red]Configuration error[/red]:")
        for problem in exc.problems:
            err_console.print(f"  {problem}", markup=False)
        return exc.exit_code
    except CoursehubError as exc:
        err_console.print("[red]Error[/red]: ", end="")
        err_console.print(str(exc), markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
