"""`coursehub assignment ...`: create, list, release, collect, autograde, feedback,
export and extend, and the corrections: edit (title, due date), unrelease and delete
(kept in a backup file first), on the hub machine (the running service's workers do
the grading)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Column, Table

from coursehub.config.layout import DataLayout
from coursehub.config.loader import LoadedConfig
from coursehub.core.errors import CoursehubError
from coursehub.core.times import (
    TimeTextError,
    described,
    local_zone,
    parse_time,
    utc_text,
)
from coursehub.ops.site import open_site

DUE_HELP = (
    "due date and time: 2026-12-21T23:59-08:00 (with the offset from UTC), 2026-12-21T23:59Z, "
    "'2026-12-21 23:59 America/Los_Angeles', or a plain time in this machine's time zone"
)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("assignment", help="create, release, collect, autograde and export")
    a = p.add_subparsers(dest="assignment_command", required=True, metavar="ACTION")
    c = a.add_parser("create", help="make (or remake) an assignment from nbgrader/otter sources")
    c.add_argument("course")
    c.add_argument("name")
    c.add_argument("--from", dest="source", required=True, help="folder or notebook of sources")
    c.add_argument("--format", choices=("nbgrader", "otter"), help="default: detected")
    c.add_argument("--title", default="")
    c.add_argument("--due", help=DUE_HELP)
    a.add_parser("list", help="a course's assignments").add_argument("course")
    for name, text in (
        ("release", "hand out the student version (into workspaces that exist)"),
        ("collect", "take each student's assignment folder as a submission"),
        ("feedback", "put each student's latest feedback into their workspace"),
    ):
        x = a.add_parser(name, help=text)
        x.add_argument("course")
        x.add_argument("name")
    g = a.add_parser("autograde", help="queue (re-)grading of the latest submissions")
    g.add_argument("course")
    g.add_argument("name")
    g.add_argument("--student", action="append", default=[], help="only these students")
    g.add_argument("--wait", action="store_true", help="wait until graded, then print scores")
    e = a.add_parser("export", help="the gradebook as CSV")
    e.add_argument("course")
    e.add_argument("name")
    e.add_argument("--output", "-o", help="file to write (default: standard output)")
    x = a.add_parser("extend", help="give one student a later due date")
    x.add_argument("course")
    x.add_argument("name")
    x.add_argument("student")
    x.add_argument("--due", required=True, help=DUE_HELP)
    ed = a.add_parser(
        "edit",
        aliases=["set"],
        help="change the title and/or the due date (questions and files stay)",
    )
    ed.add_argument("course")
    ed.add_argument("name")
    ed.add_argument("--title", help="the new title")
    due = ed.add_mutually_exclusive_group()
    due.add_argument("--due", help=DUE_HELP)
    due.add_argument("--no-due", action="store_true", help="remove the due date")
    u = a.add_parser(
        "unrelease",
        help="hide it from students again (their copies stay; no new copies or submissions)",
    )
    u.add_argument("course")
    u.add_argument("name")
    d = a.add_parser("delete", help="delete an assignment (kept in a backup file first)")
    d.add_argument("course")
    d.add_argument("name")
    d.add_argument(
        "--with-submissions",
        action="store_true",
        help="delete it even though students submitted it (their work goes into the backup)",
    )
    return p


@contextmanager
def _stores(loaded: LoadedConfig) -> Iterator[tuple[Any, Any]]:
    with open_site(loaded, create=False) as site:
        yield site.courses, site.grading


def _due(text: str | None) -> datetime | None:
    """--due read as the one parser reads every deadline; a plain local time is in this
    machine's zone (said in the echo)."""
    if text is None:
        return None
    try:
        return parse_time(text, default_zone=local_zone())
    except TimeTextError as exc:
        raise CoursehubError(f"--due: {exc}") from None


def _said(due: datetime, text: str) -> str:
    """The stored moment in UTC and as it was given; a plain local time says its zone."""
    try:
        parse_time(text)
    except TimeTextError:  # no offset or zone of its own: read in this machine's zone
        said = described(due)
        if said.endswith(")"):
            return said[:-1] + ": this machine's time zone)"
        return f"{said} (this machine's time zone)"
    return described(due)


def run(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    with _stores(loaded) as (courses, store):
        if courses.get(args.course) is None and args.assignment_command != "list":
            raise CoursehubError(f"there is no course {args.course!r} (see: coursehub course list)")
        return ACTIONS[args.assignment_command](args, loaded, courses, store, console)


def _student(loaded: LoadedConfig, username: str) -> Any:
    from coursehub.courses.workspace import demo_student, local_student

    config = loaded.config
    if config.spawn.backend == "demo":
        return demo_student(DataLayout(config.site.data_dir).demo_homes, username)
    return local_student(f"{config.spawn.local.user_prefix}{username}")


def _students_with_workspace(loaded: LoadedConfig, courses: Any, course: str) -> Iterator[tuple]:
    from coursehub.courses.servers import workspace_for
    from coursehub.courses.workspace import WorkspaceError

    for member in courses.members(course, role="student"):
        try:
            student = _student(loaded, member.username)
        except WorkspaceError:
            continue
        workspace = workspace_for(student.home, course)
        if workspace.is_dir():
            yield member.username, student, workspace


def _create(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    from coursehub.grading import lifecycle
    from coursehub.grading.errors import FormatNotFound

    due = _due(args.due)
    try:
        row = lifecycle.create(
            store, args.course, args.name, Path(args.source), args.format, args.title, due
        )
    except FormatNotFound as exc:
        raise FormatNotFound(f"{exc}, or name the format with --format") from None
    questions = json.loads(row.questions)
    console.print(
        f"{row.format} assignment {row.name} of {row.course}: {len(questions)} question(s), "
        f"{row.max_points:g} points. Hand it out with: coursehub assignment release "
        f"{row.course} {row.name}",
        markup=False,
    )
    if due is not None:
        console.print(f"Due {_said(due, args.due)}.", markup=False)
    return 0


def _list(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    due = Column("due", no_wrap=True, min_width=20)  # 2026-12-21 18:00 UTC, never cut
    table = Table("name", "format", "points", due, "released", "submissions")
    for row in store.assignments(args.course):
        subs = store.submissions(row.id)
        table.add_row(
            row.name, row.format, f"{row.max_points:g}",
            _in_utc(row.due_at),
            "yes" if row.released_at else "no",
            f"{len({s.username for s in subs})} students, {len(subs)} attempts",
        )  # fmt: skip
    console.print(table)
    return 0


def _release(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    from coursehub.grading import lifecycle

    row = store.get(args.course, args.name)
    lifecycle.publish(store, row)
    row = store.get(args.course, args.name)
    copied = 0
    for _name, student, workspace in _students_with_workspace(loaded, courses, args.course):
        lifecycle.fetch_into(store, row, student, workspace)
        copied += 1
    console.print(
        f"Released {row.name}: copied into {copied} workspace(s); other students get it in "
        f"{lifecycle.workspace_folder(row.name)} when they open it.",
        markup=False,
    )
    return 0


def _collect(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    from coursehub.courses.workspace import WorkspaceError
    from coursehub.grading import lifecycle

    row = store.get(args.course, args.name)
    taken = skipped = 0
    for username, student, workspace in _students_with_workspace(loaded, courses, args.course):
        try:
            files = lifecycle.collect(row, student, workspace)
        except WorkspaceError:
            skipped += 1
            continue
        stored = store.submit(row, username, files, origin="collect")
        taken += not stored.duplicate
    console.print(f"Collected {taken} new submission(s); {skipped} without the folder.")
    return 0


def _autograde(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    row = store.get(args.course, args.name)
    latest = store.latest_submissions(row.id)
    if args.student:
        latest = [s for s in latest if s.username in set(args.student)]
    ids = store.enqueue([s.id for s in latest], "cli")
    console.print(f"Queued {len(ids)} grading(s); the coursehub service grades them.")
    if not args.wait:
        return 0
    while True:
        states = [store.grading(g).state for g in ids]
        if all(s in ("done", "failed") for s in states):
            break
        time.sleep(1)
    from coursehub.grading import gradebook

    questions = json.loads(row.questions)
    for gid in ids:
        g = store.grading(gid)
        who = store.submission(g.submission_id).username
        marks = gradebook.marks(g, store.manual_grades(g.submission_id), questions)
        total = "-" if marks.total is None else f"{marks.total:g}"
        left = f"; so far, to grade by hand: {', '.join(marks.to_grade)}" if marks.to_grade else ""
        console.print(f"{who}: {total} / {g.max_total:g} ({g.outcome}{left})", markup=False)
    return 0


def _feedback(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    from coursehub.courses.workspace import release_folder
    from coursehub.grading import lifecycle
    from coursehub.grading.autograde import feedback_pages

    row = store.get(args.course, args.name)
    given = 0
    students = {u: (s, w) for u, s, w in _students_with_workspace(loaded, courses, args.course)}
    for sub in store.latest_submissions(row.id):
        if sub.username not in students or store.latest_grading(sub.id) is None:
            continue
        student, workspace = students[sub.username]
        pages = feedback_pages(store.paths, row.course, sub.id)
        with tempfile.TemporaryDirectory(dir=store.paths.data_dir) as tmp:
            for notebook, page in pages.items():
                target = Path(tmp) / (notebook + ".html")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(page, target)
            if student.uid is not None:  # readable by this student only
                for path in [Path(tmp), *Path(tmp).rglob("*")]:
                    os.chown(path, student.uid, student.gid)
            release_folder(
                student, workspace, Path(tmp), lifecycle.workspace_folder(row.name) + "/feedback"
            )
        given += 1
    console.print(f"Feedback put into {given} workspace(s) under assignments/{row.name}/feedback.")
    return 0


def _export(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    from coursehub.grading import gradebook

    row = store.get(args.course, args.name)
    students = [m.username for m in courses.members(args.course, role="student")]
    text = gradebook.to_csv(row, gradebook.gradebook(store, row, students))
    if args.output:
        Path(args.output).write_text(text)
        console.print(f"Wrote {args.output}", markup=False)
    else:
        print(text, end="")
    return 0


def _extend(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    row = store.get(args.course, args.name)
    due = _due(args.due)
    assert due is not None
    if args.student not in {m.username for m in courses.members(args.course, role="student")}:
        raise CoursehubError(
            f"{args.student} is not a student of {args.course} (extensions are for students)"
        )
    store.grant_extension(row.id, args.student, due, "cli")
    console.print(
        f"{args.student} may submit {row.name} until {_said(due, args.due)}.", markup=False
    )
    if row.due_at is not None and due < row.due_at:
        console.print(
            f"Note: that is before the assignment's due date ({utc_text(row.due_at)}): "
            f"{args.student} now has less time than the others.",
            markup=False,
        )
    return 0


def _in_utc(when: datetime | None) -> str:
    return utc_text(when) if when else "-"


def _edit(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    row = store.get(args.course, args.name)
    if args.title is None and args.due is None and not args.no_due:
        raise CoursehubError("nothing to change: give --title, --due or --no-due")
    remeasured = store.edit_assignment(
        row.id, title=args.title, due_at=_due(args.due), clear_due=args.no_due
    )
    row = store.get(args.course, args.name)
    due = _said(row.due_at, args.due) if row.due_at and args.due else _in_utc(row.due_at)
    said = f"{row.name}: title {row.title!r}, due {due}."
    if remeasured:
        said += f" Lateness measured again for {remeasured} submission(s)."
    console.print(said, markup=False)
    return 0


def _unrelease(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    from coursehub.grading import lifecycle

    row = store.get(args.course, args.name)
    lifecycle.unpublish(store, row)
    console.print(
        f"Un-released {row.name}: students no longer see it, get it or submit it. Copies they "
        "already got stay in their workspaces; submissions and grades are kept. Release it "
        "again to give it back.",
        markup=False,
    )
    return 0


def _delete(args, loaded, courses, store, console) -> int:  # noqa: ANN001
    from coursehub.grading import archive
    from coursehub.grading.errors import HasSubmissions

    try:
        done = archive.delete(store, args.course, args.name, args.with_submissions)
    except HasSubmissions as exc:
        raise HasSubmissions(
            f"{args.name} has {exc.submissions} submission(s) from {exc.students} student(s), "
            "so it was not deleted; to delete it with them (they are kept in a backup file "
            "first), run again with --with-submissions",
            exc.submissions,
            exc.students,
        ) from None
    console.print(
        f"Deleted {args.name} ({done.submissions} submission(s)); everything it held is "
        f"kept in {done.backup}",
        markup=False,
    )
    return 0


ACTIONS = {
    "create": _create,
    "list": _list,
    "release": _release,
    "collect": _collect,
    "autograde": _autograde,
    "feedback": _feedback,
    "export": _export,
    "extend": _extend,
    "edit": _edit,
    "set": _edit,
    "unrelease": _unrelease,
    "delete": _delete,
}
