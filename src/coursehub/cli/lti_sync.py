"""`coursehub lti sync-grades COURSE` and `coursehub lti sync-roster COURSE`: the LMS
services by hand, on the hub machine (the running service also does both on its own).

`add_sync_commands(lti_subparsers)` adds the two actions to the `lti` command; their
namespaces carry `sync_command`, and `run(args, loaded, console)` carries them out.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from coursehub.config.loader import LoadedConfig
from coursehub.core.errors import CoursehubError
from coursehub.ops.site import open_site

TOOL_KEY_FILE = "lti_tool_key.pem"
MAX_PASSES = 100  # each pass sends up to grade_sync.BATCH scores


def add_sync_commands(lti_subparsers: Any) -> None:
    g = lti_subparsers.add_parser(
        "sync-grades", help="send every current score of a course to its LMS courses now"
    )
    g.add_argument("course")
    g.set_defaults(sync_command="grades")
    r = lti_subparsers.add_parser(
        "sync-roster", help="enrol a course's LMS members now (and unenrol students who left)"
    )
    r.add_argument("course")
    r.set_defaults(sync_command="roster")


@contextmanager
def _services(loaded: LoadedConfig) -> Iterator[tuple[Any, Any, Any]]:
    from coursehub.lti.keys import ensure_tool_key
    from coursehub.lti.service_token import ServiceTokens

    with open_site(loaded, create=False) as site:
        tokens = ServiceTokens(ensure_tool_key(site.layout.secret_file(TOOL_KEY_FILE)))
        try:
            yield site.database, site.courses, tokens
        finally:
            tokens.close()


def run(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    with _services(loaded) as (db, courses, tokens):
        if courses.get(args.course) is None:
            raise CoursehubError(f"there is no course {args.course!r} (see: coursehub course list)")
        if args.sync_command == "grades":
            return _grades(args, loaded, db, tokens, console)
        return _roster(args, loaded, db, courses, tokens, console)


def _grades(
    args: argparse.Namespace, loaded: LoadedConfig, db: Any, tokens: Any, console: Console
) -> int:
    from coursehub.lti.grade_sync import requeue_course, send_due, sync_rows

    if not loaded.config.lti.grade_passback:
        raise CoursehubError("lti.grade_passback is off in coursehub.yaml: no scores are sent")
    queued = requeue_course(db, args.course)
    for _ in range(MAX_PASSES):
        if not send_due(db, tokens).handled:
            break
    rows = sync_rows(db, args.course)
    if not rows:
        console.print(
            f"{args.course} has no scores for an LMS: no linked LMS course takes scores, "
            "or nobody has a graded submission yet."
        )
        return 0
    table = Table("student", "assignment", "score", "status", "error")
    for row in rows:
        score = "" if row.score is None else f"{row.score:g} / {row.max_score:g}"
        status = row.status
        if row.status == "pending" and row.attempts:
            status = f"retrying ({row.attempts} tries)"
        # Text: the LMS's words and names are shown as they are, never as markup
        table.add_row(
            *(Text(x) for x in (row.username, row.assignment, score, status)), Text(row.last_error)
        )
    console.print(table)
    unsent = sum(r.status != "sent" for r in rows)
    waiting = sum(r.status in ("pending", "sending") for r in rows)
    failed = unsent - waiting
    console.print(f"Queued {queued}; {len(rows) - unsent} of {len(rows)} sent.", markup=False)
    if waiting:
        console.print(f"{waiting} will be tried again by the running service.")
    if failed:
        console.print(f"{failed} failed: fix what the error says, then run this again.")
    return 1 if unsent else 0


def _roster(
    args: argparse.Namespace,
    loaded: LoadedConfig,
    db: Any,
    courses: Any,
    tokens: Any,
    console: Console,
) -> int:
    from coursehub.lti.roster_sync import sync_course_roster

    report = sync_course_roster(db, courses, tokens, args.course, loaded.config.lti.username_claim)
    table = Table("added", "updated", "removed", "skipped", "unchanged")
    table.add_row(
        *(str(n) for n in (report.added, report.updated, report.removed)),
        str(report.skipped),
        str(report.unchanged),
    )
    console.print(table)
    for problem in report.problems:
        console.print(problem, style="yellow", markup=False)
    if report.removed_users:
        console.print(
            "Unenrolled (their files and grades are kept): " + ", ".join(report.removed_users),
            markup=False,
        )
        _revoke_shares(courses, args.course, report.removed_users, console)
    return 1 if report.problems else 0


def _revoke_shares(courses: Any, course: str, usernames: list[str], console: Console) -> None:
    """Help shares of the live class view tied to the course go too (as for
    `coursehub course unenrol`)."""
    from coursehub.core.errors import HubNotRunning
    from coursehub.engines.hub_api import HubClient

    try:
        hub = HubClient.for_layout(courses.layout)
    except HubNotRunning:
        console.print(
            "Note: the hub is not running, so server access shared with or by them for "
            "help (live class view) stays until revoked in the hub.",
            markup=False,
        )
        return
    try:
        for username in usernames:
            hub.revoke_course_shares(course, username)
    except HubNotRunning:
        pass
    finally:
        hub.close()
