"""`coursehub users ...`: the roster, from the command line, while the hub runs or not."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Column, Table

from coursehub.config.layout import DataLayout
from coursehub.config.loader import LoadedConfig
from coursehub.core.errors import AccountError, HubNotRunning
from coursehub.engines.hub_api import HubClient
from coursehub.ops.site import open_site

if TYPE_CHECKING:
    from coursehub.accounts.store import AccountStore


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("users", help="import, add, remove and list accounts")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    i = usub.add_parser("import", help="import a roster file (all lines checked first)")
    i.add_argument("file", type=Path)
    i.add_argument("--dry-run", action="store_true", help="check the file, change nothing")
    a = usub.add_parser("add", help="add one account")
    a.add_argument("username")
    a.add_argument("--role", default="student", choices=["admin", "instructor", "ta", "student"])
    a.add_argument("--full-name", default="")
    a.add_argument("--email", default="")
    a.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    r = usub.add_parser("remove", help="remove an account (its files are kept)")
    r.add_argument("username")
    lst = usub.add_parser("list", help="list accounts")
    lst.add_argument("--role", choices=["admin", "instructor", "ta", "student"])
    methods = ["local", "github", "lti", "jwt"]
    ln = usub.add_parser(
        "link",
        help="let another sign-in method open an account (the same person)",
        description="An account is opened only by the sign-in method that made it and "
        "those linked here: a GitHub login, LMS user or sign-in link that names another "
        "method's account is refused until an admin links them. github: the next GitHub "
        "sign-in of that login is pinned to the account. jwt: links naming the account "
        "open it. lti: give --from, the account the LMS user's launch made (e.g. prof-2). "
        "local: passwords open it (set one with a roster import).",
    )
    ln.add_argument("username", help="the account to open")
    ln.add_argument("method", choices=methods)
    ln.add_argument(
        "--from",
        dest="from_account",
        metavar="ACCOUNT",
        help="lti only: the account made by the LMS user's launch",
    )
    un = usub.add_parser("unlink", help="stop a sign-in method opening an account")
    un.add_argument("username")
    un.add_argument("method", choices=methods)
    return p


@contextmanager
def _store(loaded: LoadedConfig) -> Iterator[AccountStore]:
    with open_site(loaded) as site:
        yield site.accounts


def run(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    action = args.users_command
    min_len = loaded.config.auth.min_password_length
    if action == "import":
        from coursehub.accounts.roster import read_roster_file

        entries = read_roster_file(args.file, min_password_length=min_len)
        if args.dry_run:
            console.print(f"{args.file}: {len(entries)} valid line(s); nothing changed (dry run)")
            return 0
        with _store(loaded) as store:
            result = store.import_entries(entries)
            from coursehub.courses.roster_enrolment import enrol_roster_entries

            enrolled = enrol_roster_entries(store.db, loaded.config.site.data_dir, entries)
        made = _unix_accounts(loaded, [e.username for e in entries])
        console.print(
            f"Imported {args.file}: {len(result.added)} added, {len(result.updated)} updated, "
            f"{len(result.unchanged)} unchanged"
            + "".join(f"; {part}" for part in (enrolled, made) if part),
            highlight=False,
            markup=False,
        )
        return 0
    if action == "add":
        password = _password(args, min_len, console)
        with _store(loaded) as store:
            store.add(
                args.username,
                full_name=args.full_name,
                email=args.email,
                role=args.role,
                password=password,
            )
        made = _unix_accounts(loaded, [args.username])
        console.print(f"Added {args.username} ({args.role})" + (f"; {made}" if made else ""))
        return 0
    if action == "remove":
        with _store(loaded) as store:
            store.remove(args.username)
        signed_out = _remove_from_hub(loaded, args.username)
        console.print(
            f"Removed {args.username}"
            + ("; their servers were stopped and sessions ended" if signed_out else "")
            + ". Their files are kept."
        )
        return 0
    if action in ("link", "unlink"):
        return _link(args, loaded, console)
    from coursehub.accounts.signins import AccountSignIns
    from coursehub.monitor.disk_usage import read_usage

    with _store(loaded) as store:
        accounts = store.list(role=args.role)
        usage = read_usage(store.db, [acc.username for acc in accounts])
        signins = AccountSignIns(store.db).all_methods()
    # usernames and disk use stay on one line in a narrow terminal; names and e-mails wrap
    table = Table(
        Column("username", no_wrap=True),
        "role",
        "sign-in",
        "full name",
        "email",
        "password",
        Column("disk", no_wrap=True),
    )
    for acc in accounts:
        table.add_row(
            acc.username,
            acc.role,
            ", ".join(signins.get(acc.username, ())) or "-",
            acc.full_name,
            acc.email,
            "set" if acc.has_password else "-",
            _disk(usage.get(acc.username), loaded.config.quota.soft),
        )
    console.print(table)
    console.print(f"{len(accounts)} account(s)")
    return 0


def _link(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    from coursehub.accounts.signins import AccountSignIns

    if args.users_command == "unlink":
        with _store(loaded) as store:
            left = AccountSignIns(store.db).unlink(args.username, args.method)
        console.print(
            f"{args.username} no longer signs in with {args.method}; "
            f"sign-in: {', '.join(left) or 'none'}. Its open sessions end within a minute.",
            markup=False,
        )
        return 0
    if (args.method == "lti") != (args.from_account is not None):
        raise AccountError(
            "give --from ACCOUNT (the account the LMS user's launch made) with lti, and "
            "only with lti"
        )
    with _store(loaded) as store:
        if store.get(args.username) is None:
            raise AccountError(f"no account named {args.username!r}")
        moved = 0
        if args.method == "lti":
            from coursehub.lti.identities import IdentityError, IdentityStore

            try:
                moved = IdentityStore(store.db).move(args.from_account, args.username)
            except IdentityError as exc:
                raise AccountError(str(exc)) from None
            if not moved:
                raise AccountError(f"{args.from_account!r} was not made by an LMS launch")
        methods = AccountSignIns(store.db).link(args.username, args.method)
    console.print(
        f"Linked: {args.username} now signs in with {', '.join(methods)}"
        + (f" (the LMS user of {args.from_account} opens it from now on)" if moved else "")
        + ".",
        markup=False,
    )
    return 0


def _unix_accounts(loaded: LoadedConfig, usernames: list[str]) -> str:
    """Make the Unix accounts of `usernames` now rather than at their first start
    (accounts/unix.py); what was made, or "" where the site has none."""
    from coursehub.accounts.unix import UnixAccounts

    site = UnixAccounts.of_site(loaded.config)
    return site.ensure_for(usernames).summary() if site is not None else ""


def _disk(use: Any, quota: int | None) -> str:
    """The home's last measured size, marked when over the soft quota."""
    from coursehub.monitor.disk_usage import human_size

    if use is None:
        return "-"
    return human_size(use.home) + (" (over quota)" if use.over(quota) else "")


def _password(args: argparse.Namespace, min_len: int, console: Console) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < min_len:
            raise AccountError(f"the password must have at least {min_len} characters")
        return password
    password = secrets.token_urlsafe(12)
    console.print(f"Generated password for {args.username}: {password}", markup=False)
    return password


def _remove_from_hub(loaded: LoadedConfig, username: str) -> bool:
    """End the user's sessions and servers if the hub is running."""
    try:
        client = HubClient.for_layout(DataLayout(loaded.config.site.data_dir))
    except HubNotRunning:
        return False
    try:
        status = client.delete_user(username)
    except HubNotRunning:
        return False
    finally:
        client.close()
    return status in (202, 204)
