"""`coursehub lti ...`: what to paste into Moodle or Canvas, and the LMS platforms
coursehub accepts launches from (those in coursehub.yaml and those added here)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from coursehub.config.loader import LoadedConfig
from coursehub.config.models import LtiPlatformConfig
from coursehub.config.translate.jupyterhub import public_url
from coursehub.core.errors import ConfigError, ConfigProblem
from coursehub.lti import tool_config
from coursehub.ops.site import open_site

if TYPE_CHECKING:  # the store pulls in SQLAlchemy: imported when a platform command runs
    from coursehub.lti.platforms import PlatformStore

CANVAS_CLOUD = "cloud"
WHERE = "coursehub lti add-platform"
# add-platform's option for each LtiPlatformConfig field, for error messages
OPTIONS = {
    "name": "NAME",
    "issuer": "--issuer",
    "client_id": "--client-id",
    "deployment_ids": "--deployment-id",
    "auth_login_url": "--auth-login-url",
    "auth_token_url": "--auth-token-url",
    "key_set_url": "--key-set-url",
}
URL_FIELDS = ("issuer", "auth_login_url", "auth_token_url", "key_set_url")

Action = Callable[[argparse.Namespace, LoadedConfig, Console], int]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("lti", help="connect an LMS (Moodle, Canvas) by LTI 1.3")
    lsub = p.add_subparsers(dest="lti_command", required=True, metavar="ACTION")
    c = lsub.add_parser("config", help="the values to paste into the LMS, and the next step")
    c.add_argument("lms", choices=("moodle", "canvas"))
    a = lsub.add_parser(
        "add-platform",
        help="accept launches from an LMS (values from its tool registration)",
        description="Register an LMS. --moodle URL or --canvas fill in the LMS's URLs; "
        "--client-id (and --deployment-id) come from the LMS once coursehub is added there.",
    )
    a.add_argument("name", help="short label, e.g. moodle (1-24 lower-case letters, digits, '-')")
    a.add_argument("--issuer", help="the platform's issuer (Moodle: Platform ID)")
    a.add_argument("--client-id", help="the client id the LMS gave coursehub")
    a.add_argument(
        "--deployment-id",
        action="append",
        default=[],
        dest="deployment_ids",
        help="a deployment id to accept (repeatable; none given: no launch is accepted)",
    )
    a.add_argument(
        "--auth-login-url", help="OIDC authentication URL (Moodle: Authentication request URL)"
    )
    a.add_argument("--auth-token-url", help="OAuth2 token URL (Moodle: Access token URL)")
    a.add_argument("--key-set-url", help="the platform's public keys (Moodle: Public keyset URL)")
    preset = a.add_mutually_exclusive_group()
    preset.add_argument("--moodle", metavar="URL", help="a Moodle site: fills the four URLs")
    preset.add_argument(
        "--canvas",
        nargs="?",
        const=CANVAS_CLOUD,
        metavar="URL",
        help="Canvas: fills the four URLs (Instructure-hosted; give the URL of a "
        "self-hosted Canvas)",
    )
    lsub.add_parser("platforms", help="list the registered LMS platforms")
    r = lsub.add_parser("remove-platform", help="stop accepting launches from a platform")
    r.add_argument("name")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _add_sync_commands(lsub)
    return p


def _add_sync_commands(lsub: Any) -> None:
    # `lti sync-grades` and `lti sync-roster` live with the grade and roster sync
    # commands (cli/lti_sync.py)
    from coursehub.cli.lti_sync import add_sync_commands

    add_sync_commands(lsub)


def run(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    action = ACTIONS.get(args.lti_command)
    if action is None:
        # a command from add_sync_commands: its parser may name its function with
        # set_defaults(lti_handler=f), f(args, loaded, console) -> int; otherwise
        # lti_sync_cli.run(args, loaded, console) dispatches it
        handler = getattr(args, "lti_handler", None)
        if handler is not None:
            return handler(args, loaded, console)
        from coursehub.cli import lti_sync as lti_sync_cli

        return lti_sync_cli.run(args, loaded, console)
    return action(args, loaded, console)


@contextmanager
def _platforms(loaded: LoadedConfig) -> Iterator[PlatformStore]:
    with open_site(loaded) as site:
        yield site.platforms


# --- config ------------------------------------------------------------------------


def _config(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    config = loaded.config
    site_url = public_url(config)
    if args.lms == "moodle":
        table = Table("Moodle field", "value", title="Configure a tool manually")
        for label, value in tool_config.moodle_settings(site_url, config.site.name):
            table.add_row(label, value)
        _print_whole(console, table)
        for line in _moodle_next_steps():
            console.print(line, markup=False)
    else:
        # JSON alone on standard output (pipe it to a file); the steps on standard error
        key = tool_config.canvas_developer_key(site_url, config.site.name)
        console.print(json.dumps(key, indent=2), markup=False, soft_wrap=True)
        _notes(*_canvas_next_steps(tool_config.tool_urls(site_url).launch))
    _notes(*_site_warnings(loaded))
    return 0


def _moodle_next_steps() -> list[str]:
    example = tool_config.moodle_platform("https://moodle.example.edu")
    return [
        "",
        "Where: Site administration > Plugins > Activity modules > External tool > Manage "
        "tools > configure a tool manually. Save, then open the tool's Tool configuration "
        "details (the list icon on its card).",
        "Then register the platform with the values Moodle shows there (Platform ID is the "
        "Moodle site's URL):",
        "  coursehub lti add-platform moodle --moodle https://moodle.example.edu "
        "--client-id CLIENT_ID --deployment-id DEPLOYMENT_ID",
        f"  (--moodle fills in --issuer {example.issuer}, --auth-login-url "
        f"{example.auth_login_url}, --auth-token-url {example.auth_token_url}, "
        f"--key-set-url {example.key_set_url})",
    ]


def _canvas_next_steps(launch: str) -> list[str]:
    cloud = tool_config.canvas_platform()
    return [
        "",
        "Where: Admin > Developer Keys > + Developer Key > + LTI Key. Key Name: coursehub; "
        f"Redirect URIs: {launch}; Method: Paste JSON, and paste the JSON above. Save, then "
        "turn the key ON and copy its Client ID (the number under Details).",
        "Install it: Admin (or a course) > Settings > Apps > View App Configurations > + App "
        "> Configuration Type: By Client ID. Its Deployment Id is under the app's gear menu.",
        "Then register the platform:",
        "  coursehub lti add-platform canvas --canvas --client-id CLIENT_ID "
        "--deployment-id DEPLOYMENT_ID",
        f"  (--canvas fills in --issuer {cloud.issuer}, --auth-login-url "
        f"{cloud.auth_login_url}, --auth-token-url {cloud.auth_token_url}, "
        f"--key-set-url {cloud.key_set_url}; for a self-hosted Canvas give its URL: "
        "--canvas https://canvas.example.edu)",
    ]


def _site_warnings(loaded: LoadedConfig) -> list[str]:
    config = loaded.config
    notes = []
    if not public_url(config).startswith("https://"):
        notes.append(
            f"Warning: site.public_url is {public_url(config)}: LMSs need an https URL they "
            "can reach (set site.public_url in coursehub.yaml)."
        )
    if "lti" not in config.auth.methods:
        notes.append("Note: add lti to auth.methods in coursehub.yaml to accept launches.")
    return notes


def _print_whole(console: Console, table: Table) -> None:
    """Print `table` as wide as its longest values: URLs are copied from it, so they
    must be neither cut nor wrapped (the terminal may still fold long lines)."""
    from rich.measure import Measurement

    for column in table.columns:
        column.no_wrap = True
    probe = Console(width=10_000)
    width = Measurement.get(probe, probe.options, table).maximum
    wide = Console(file=console.file, width=max(console.width, width), highlight=False)
    wide.print(table)


def _notes(*lines: str) -> None:
    if lines:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        for line in lines:
            err.print(line, markup=False)


# --- platforms ---------------------------------------------------------------------


def platform_spec(args: argparse.Namespace) -> LtiPlatformConfig:
    """The platform described by add-platform's options (a preset's URLs first, the
    explicit options over them); ConfigError naming the option when a value is wrong."""
    values: dict[str, Any] = {"name": args.name}
    origin = dict(OPTIONS)
    preset = None
    if args.moodle:
        preset = ("--moodle", tool_config.moodle_platform(args.moodle))
    elif args.canvas:
        url = None if args.canvas == CANVAS_CLOUD else args.canvas
        preset = ("--canvas", tool_config.canvas_platform(url))
    if preset is not None:
        option, urls = preset
        for field in URL_FIELDS:
            values[field] = getattr(urls, field)
            origin[field] = option
    for field in (*URL_FIELDS, "client_id"):
        given = getattr(args, field)
        if given is not None:
            values[field] = given.strip()
            origin[field] = OPTIONS[field]
    values["deployment_ids"] = [d.strip() for d in args.deployment_ids]
    problems = [
        ConfigProblem(WHERE, None, "--deployment-id", "", "a deployment id cannot be empty", True)
        for d in values["deployment_ids"]
        if not d
    ]
    try:
        spec = LtiPlatformConfig(**values)
    except ValidationError as exc:
        problems += [_problem(err, values, origin) for err in exc.errors()]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return spec


def _problem(err: Any, values: dict[str, Any], origin: dict[str, str]) -> ConfigProblem:
    field = str(err["loc"][0]) if err["loc"] else ""
    if err["type"] == "missing":
        message = "required"
        if field in URL_FIELDS:
            message += " (or give --moodle URL or --canvas to fill in the LMS's URLs)"
    else:
        message = err["msg"].removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
    present = field in values
    return ConfigProblem(WHERE, None, origin.get(field, field), values.get(field), message, present)


def _add_platform(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    from coursehub.lti.platforms import PlatformError

    spec = platform_spec(args)
    for listed in loaded.config.lti.platforms:
        if listed.name == spec.name or (listed.issuer, listed.client_id) == (
            spec.issuer,
            spec.client_id,
        ):
            raise PlatformError(
                f"coursehub.yaml already lists this platform as {listed.name!r} "
                "(lti.platforms); change it there, or register this one under another name"
            )
    with _platforms(loaded) as store:
        platform = store.add(spec, source="cli")
    if platform.deployment_ids:
        console.print(
            f"Registered platform {platform.name}: launches from {platform.issuer} "
            f"(client id {platform.client_id}, deployments "
            f"{', '.join(platform.deployment_ids)}) are accepted from now on.",
            markup=False,
        )
    else:
        console.print(
            f"Registered platform {platform.name} without a deployment id: it accepts no "
            f"launch. Remove it (coursehub lti remove-platform {platform.name}) and add it "
            "again with --deployment-id and the id the LMS shows.",
            markup=False,
        )
    _notes(*_site_warnings(loaded))
    return 0


def _list(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    with _platforms(loaded) as store:
        registered = store.list()
    # coursehub.yaml's platforms are registered at each `coursehub up`; until then the
    # file and the database may differ, and the table says so.
    listed = {p.name: p for p in loaded.config.lti.platforms}
    table = Table("name", "issuer", "client id", "deployments", "key set URL", "from")
    for p in registered:
        source = "command line"
        if p.source == "config":
            source = "coursehub.yaml" if p.name in listed else "removed from coursehub.yaml"
        table.add_row(
            p.name, p.issuer, p.client_id, ", ".join(p.deployment_ids) or "none (no launch)",
            p.key_set_url, source,
        )  # fmt: skip
    pending = [spec for name, spec in listed.items() if name not in {p.name for p in registered}]
    for spec in pending:
        table.add_row(
            spec.name, spec.issuer, spec.client_id,
            ", ".join(spec.deployment_ids) or "none (no launch)",
            spec.key_set_url, "coursehub.yaml (not registered yet)",
        )  # fmt: skip
    _print_whole(console, table)
    console.print(f"{len(registered) + len(pending)} platform(s)")
    if pending or any(p.source == "config" and p.name not in listed for p in registered):
        console.print("coursehub.yaml's platforms are registered at the next `coursehub up`.")
    if not registered and not pending:
        console.print("Add one: `coursehub lti config moodle|canvas`, then `lti add-platform`.")
    return 0


def _remove(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    from coursehub.lti.platforms import PlatformError

    if any(p.name == args.name for p in loaded.config.lti.platforms):
        raise PlatformError(
            f"platform {args.name!r} comes from coursehub.yaml (lti.platforms); remove it "
            "there, and it is dropped at the next `coursehub up`"
        )
    with _platforms(loaded) as store:
        platform = store.by_name(args.name)
        if platform is None:
            raise PlatformError(f"no platform called {args.name!r} (see `coursehub lti platforms`)")
        people, courses = _usage(store, platform.id)
        if (people or courses) and not args.yes:
            raise PlatformError(
                f"{args.name} has brought {people} person(s) and {courses} LMS course(s); "
                "removing it forgets who they are in the LMS and which courses are linked "
                "(their accounts stay, but if it is added again their next launches make "
                "new accounts); run again with --yes to confirm"
            )
        store.remove(args.name)
    console.print(f"Removed platform {args.name}: its launches are refused from now on.")
    return 0


def _usage(store: PlatformStore, platform_id: int) -> tuple[int, int]:
    """How many LMS users and LMS courses this platform has brought."""
    from sqlalchemy import func, select

    from coursehub.db.models import LtiContext, LtiIdentity

    with store.db.session() as s:
        people = s.scalar(select(func.count()).where(LtiIdentity.platform_id == platform_id))
        courses = s.scalar(select(func.count()).where(LtiContext.platform_id == platform_id))
    return int(people or 0), int(courses or 0)


ACTIONS: dict[str, Action] = {
    "config": _config,
    "add-platform": _add_platform,
    "platforms": _list,
    "remove-platform": _remove,
}
