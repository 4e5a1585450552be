"""`coursehub course ...`: add, pull, list, show, archive, remove, enrol and warm (cli/warm.py)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from coursehub.config.loader import LoadedConfig
from coursehub.core.errors import CoursehubError, HubNotRunning
from coursehub.engines.hub_api import HubClient
from coursehub.ops.site import open_site

if TYPE_CHECKING:  # the store pulls in SQLAlchemy: imported when a course command runs
    from coursehub.courses.store import CourseInfo, CourseStore

COURSE_ROLES = ("instructor", "ta", "student")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("course", help="add, pull, list and archive courses; enrol people")
    csub = p.add_subparsers(dest="course_command", required=True, metavar="ACTION")
    a = csub.add_parser("add", help="add a course from a git repository (cloned now)")
    a.add_argument("name", help="1-40 lower-case letters, digits, '-' or '_'")
    a.add_argument("--repo", required=True, help="git URL or path of the course repository")
    a.add_argument("--branch", help="branch to follow (default: the repository's default)")
    pl = csub.add_parser("pull", help="update a course's files from its repository")
    which = pl.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?")
    which.add_argument("--all", action="store_true", help="every course not archived")
    csub.add_parser("list", help="list courses")
    csub.add_parser("show", help="a course's details and members").add_argument("name")
    csub.add_parser("archive", help="stop pulling a course (files kept)").add_argument("name")
    csub.add_parser("unarchive", help="make an archived course active").add_argument("name")
    r = csub.add_parser("remove", help="remove a course, its enrolments and files")
    r.add_argument("name")
    r.add_argument("--keep-files", action="store_true", help="leave the checkout on disk")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    e = csub.add_parser("enrol", help="enrol people in a course (or change their role)")
    e.add_argument("name")
    e.add_argument("usernames", nargs="+", metavar="USER")
    e.add_argument("--role", default="student", choices=COURSE_ROLES)
    b = csub.add_parser("build", help="build the course environment and register its kernel")
    b.add_argument("name")
    b.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    i = csub.add_parser(
        "image", help="write a Containerfile of the course environment (docker, kubernetes)"
    )
    i.add_argument("name")
    i.add_argument("--output", "-o", help="folder to write into (default: ./<course>-image)")
    i.add_argument("--base", help="base image (default: python:<course.yaml python>-slim)")
    u = csub.add_parser("unenrol", help="take someone out of a course")
    u.add_argument("name")
    u.add_argument("username", metavar="USER")
    from coursehub.cli import warm

    warm.add_parser(csub)
    return p


@contextmanager
def _store(loaded: LoadedConfig) -> Iterator[CourseStore]:
    with open_site(loaded) as site:
        yield site.courses


def run(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    if args.course_command == "warm":
        from coursehub.cli import warm

        return warm.run(args, loaded, console)
    with _store(loaded) as store:
        if args.course_command == "enrol":
            return _enrol(args, store, console, loaded)
        return ACTIONS[args.course_command](args, store, console)


def _add(args: argparse.Namespace, store: CourseStore, console: Console) -> int:
    info = store.add(args.name, args.repo, args.branch)
    console.print(
        f"Added course {info.name} from {info.repo_url} (branch {info.branch}) at commit "
        f"{_short(info.current_commit)}; files in {store.layout.course_repo(info.name)}",
        markup=False,
    )
    return 0


def _pull(args: argparse.Namespace, store: CourseStore, console: Console) -> int:
    names = [c.name for c in store.list(include_archived=False)] if args.all else [args.name]
    failed = 0
    for name in names:
        result = store.pull(name)
        failed += not result.ok
        change = (
            f"{_short(result.old_commit)} -> {_short(result.new_commit)}"
            if result.changed
            else f"already at {_short(result.new_commit)}"
        )
        status = change if result.ok else "FAILED"
        console.print(f"{name}: {status}", style=None if result.ok else "red", markup=False)
        if result.output.strip():
            console.print(result.output.rstrip(), markup=False)
    if args.all and not names:
        console.print("No active courses.")
    return 1 if failed else 0


def _list(args: argparse.Namespace, store: CourseStore, console: Console) -> int:
    courses = store.list()
    table = Table("name", "commit", "branch", "archived", "last pull", "members")
    for c in courses:
        table.add_row(
            c.name, _short(c.current_commit), c.branch, "yes" if c.archived else "no",
            _pull_state(c), str(c.members),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(courses)} course(s)")
    return 0


def _show(args: argparse.Namespace, store: CourseStore, console: Console) -> int:
    info = store.get(args.name)
    if info is None:
        raise _no_course(args.name)
    rows = [
        ("course", info.name),
        ("repository", info.repo_url),
        ("branch", info.branch),
        ("commit", info.current_commit or "-"),
        ("archived", "yes" if info.archived else "no"),
        ("created", _when(info.created_at)),
        ("last pull", _pull_state(info)),
        ("files", str(store.layout.course_repo(info.name))),
    ]
    for key, value in rows:
        console.print(f"{key + ':':<12} {value}", markup=False)
    members = store.members(info.name)
    for role in COURSE_ROLES:
        names = [m.username for m in members if m.role == role]
        console.print(f"{role + 's:':<12} {', '.join(names) or '-'}", markup=False)
    _show_sources(store, info.name, console)
    if info.last_pull_ok is False:
        console.print("last pull output:", markup=False)
        console.print(info.last_pull_output.rstrip(), markup=False)
    return 0


def _show_sources(store: CourseStore, name: str, console: Console) -> None:
    """Which repository file each part of the course came from (course.yaml, nbhosting...)."""
    from coursehub.courses.manifest import load_manifest

    try:
        manifest = load_manifest(store.layout.course_repo(name), name)
    except CoursehubError as exc:
        console.print(f"{'settings:':<12} cannot be read: {exc}", markup=False)
        return
    for part, file in manifest.sources.items():
        console.print(f"{part + ':':<12} from {file}", markup=False)
    if manifest.lectures is not None:
        from coursehub.core.times import described

        upcoming = manifest.lectures.next_lecture(datetime.now(UTC))
        zone = manifest.lectures.tz or UTC
        when = described(upcoming.astimezone(zone)) if upcoming else "none to come"
        console.print(f"{'lectures:':<12} next {when} (warmed before it)", markup=False)
    for note in manifest.notes:
        console.print(f"{'note:':<12} {note}", markup=False)


def _archive(args: argparse.Namespace, store: CourseStore, console: Console) -> int:
    store.archive(args.name)
    console.print(f"Archived {args.name}: no more pulls; files and members kept.", markup=False)
    return 0


def _unarchive(args: argparse.Namespace, store: CourseStore, console: Console) -> int:
    store.unarchive(args.name)
    console.print(f"Course {args.name} is active again.", markup=False)
    return 0


def _remove(args: argparse.Namespace, store: CourseStore, console: Console) -> int:
    info = store.get(args.name)
    if info is None:
        raise _no_course(args.name)
    if not args.yes:
        what = "its enrolments" + ("" if args.keep_files else " and its files")
        from coursehub.courses.git import CourseError

        raise CourseError(
            f"removing {args.name} also removes {what} ({info.members} member(s)); "
            "run again with --yes to confirm"
        )
    store.remove(args.name, delete_files=not args.keep_files)
    kept = f"; files kept in {store.layout.course_dir(args.name)}" if args.keep_files else ""
    console.print(f"Removed course {args.name}{kept}.", markup=False)
    return 0


def _enrol(
    args: argparse.Namespace, store: CourseStore, console: Console, loaded: LoadedConfig
) -> int:
    from coursehub.accounts.store import AccountStore
    from coursehub.accounts.unix import UnixAccounts

    done = store.enrol_many(args.name, args.usernames, args.role)
    accounts = AccountStore(store.db)
    unknown = [e.username for e in done if accounts.get(e.username) is None]
    # their Unix accounts now, not at the first start in class (accounts/unix.py)
    unix = UnixAccounts.of_site(loaded.config)
    made = (
        ""
        if unix is None
        else unix.ensure_for(e.username for e in done if e.username not in unknown).summary()
    )
    console.print(
        f"Enrolled {len(done)} in {args.name} as {args.role}." + (f" {made}." if made else ""),
        markup=False,
    )
    if unknown:
        console.print(
            f"Note: no account yet for {', '.join(unknown)}; the enrolment applies to the "
            "account that gets the name: a GitHub user of that login at their first sign-in, "
            "one added with `coursehub users add`, or (students only) an LMS user whose name "
            "it is. LMS users never get a name enrolled as staff: enrol them after their "
            "first launch or a roster sync.",
            markup=False,
        )
    return 0


def _unenrol(args: argparse.Namespace, store: CourseStore, console: Console) -> int:
    store.unenrol(args.name, args.username)
    console.print(f"{args.username} is no longer in {args.name}.", markup=False)
    # Help shares of the live class view tied to this course go too.
    try:
        hub = HubClient.for_layout(store.layout)
    except HubNotRunning:
        console.print(
            "Note: the hub is not running, so server access shared with or by them for "
            "help (live class view) stays until revoked in the hub.",
            markup=False,
        )
        return 0
    try:
        revoked = hub.revoke_course_shares(args.name, args.username)
    except HubNotRunning:
        revoked = 0
    finally:
        hub.close()
    if revoked:
        console.print(f"Revoked {revoked} shared server access of theirs in {args.name}.")
    return 0


def _build(args: argparse.Namespace, store: CourseStore, console: Console) -> int:
    from coursehub.courses.build import build_course

    if store.get(args.name) is None:
        raise _no_course(args.name)

    def say(line: str) -> None:
        console.print(line, markup=False)

    result = build_course(store.layout, args.name, log=say, force=args.force)
    if result.built:
        console.print(f"Built the environment of {args.name} in {result.seconds:.0f} s")
    else:
        console.print(f"The environment of {args.name} is up to date")
    console.print("Servers started from now on use it; running servers pick it up on restart.")
    return 0


def _image(args: argparse.Namespace, store: CourseStore, console: Console) -> int:
    from pathlib import Path

    from coursehub.courses.image import write_course_image

    if store.get(args.name) is None:
        raise _no_course(args.name)
    outdir = Path(args.output or f"{args.name}-image")
    done = write_course_image(store.layout, args.name, outdir, base=args.base)
    console.print(f"Wrote {done.containerfile}", markup=False)
    if done.copied:
        console.print(f"Copied {', '.join(done.copied)} next to it", markup=False)
    console.print("Build it (nothing was built here):", markup=False)
    console.print(f"  {done.wheel_command}", markup=False)
    console.print(f"  {done.build_command}", markup=False)
    console.print(
        f"then name IMAGE:TAG in coursehub.yaml: courses.settings.{args.name}.image",
        markup=False,
    )
    return 0


ACTIONS = {
    "add": _add,
    "build": _build,
    "image": _image,
    "pull": _pull,
    "list": _list,
    "show": _show,
    "archive": _archive,
    "unarchive": _unarchive,
    "remove": _remove,
    "unenrol": _unenrol,
}


def _short(commit: str | None) -> str:
    return commit[:10] if commit else "-"


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "never"


def _pull_state(info: CourseInfo) -> str:
    if info.last_pull_at is None:
        return "never"
    return _when(info.last_pull_at) + ("" if info.last_pull_ok else " (failed)")


def _no_course(name: str) -> Exception:
    from coursehub.courses.git import CourseError

    return CourseError(f"no course named {name!r} (see `coursehub course list`)")
