"""`coursehub stats COURSE`: a course's usage statistics in the terminal, read from the
database (the hub need not run); new notebook events are counted first."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from coursehub.config.layout import DataLayout
from coursehub.config.loader import LoadedConfig
from coursehub.config.translate.jupyterhub import coursehub_database_url
from coursehub.core.errors import CoursehubError
from coursehub.core.numbers import whole_number
from coursehub.ops.site import open_site

TOP = 10
GIB = 2**30


class StatsError(CoursehubError):
    """The statistics cannot be shown (no such course, bad range)."""


def _days(value: str) -> int:
    days = whole_number(value)
    if days is None or days < 1:
        raise argparse.ArgumentTypeError("give a whole number of days, 1 or more")
    return days


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("stats", help="a course's usage statistics (students, notebooks, servers)")
    p.add_argument("course", metavar="COURSE")
    p.add_argument(
        "--days", type=_days, default=7, help="days to cover, today included (default 7)"
    )
    return p


def run(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    from coursehub.courses.git import CourseError
    from coursehub.stats.report import course_stats
    from coursehub.stats.rollup import roll_up

    layout = DataLayout(loaded.config.site.data_dir)
    url = coursehub_database_url(loaded.config, layout)
    if url.startswith("sqlite") and not layout.root.is_dir():
        raise StatsError(f"no data directory at {layout.root}: nothing was recorded yet")
    with open_site(loaded, create=False) as site:
        roll_up(site.database)
        try:
            st = course_stats(site.database, args.course, days=args.days)
        except CourseError:
            raise StatsError(
                f"no course named {args.course!r} (see `coursehub course list`)"
            ) from None
    _print(st, console)
    return 0


def _print(st: Any, console: Console) -> None:
    say = lambda text: console.print(text, markup=False)  # noqa: E731 - names stay plain
    console.print(
        f"[bold]{escape(st.course)}[/bold]: last {st.days} days, {st.since} to {st.until} (UTC); "
        f"{len(st.staff)} staff not counted",
        highlight=False,
    )
    say(f"Students:  {st.students_total} opened a notebook, {st.students_enrolled} enrolled")
    say(f"Active:    {st.active_today} today, {st.active_week} in the last 7 days")
    opens = sum(r.opens for r in st.daily)
    runs = sum(r.executions for r in st.daily)
    say(f"Activity:  {opens} notebook opens, {runs} cells run in these days")

    days = Table("day", "opens", "cells run", "active", "new", title="Per day")
    for r in st.daily:
        days.add_row(r.day.isoformat(), str(r.opens), str(r.executions), str(r.active), str(r.new))
    console.print(days)

    top = sorted(st.notebooks, key=lambda n: (-n.students, -n.opens, n.path))[:TOP]
    books = Table("notebook", "students", "opens", title=f"Notebooks (top {TOP} by students)")
    for n in top:
        books.add_row(escape(n.path), str(n.students), str(n.opens))
    console.print(books)
    if len(st.notebooks) > TOP:
        say(f"... and {len(st.notebooks) - TOP} more notebooks")

    if st.servers:
        peak = max(st.servers, key=lambda p: (p.servers, p.kernels))
        now = st.servers[-1]
        say(
            f"Servers:   now {now.servers:g} servers, {now.kernels:g} kernels "
            f"({now.busy_kernels:g} busy); most {peak.servers:g} servers "
            f"({peak.at:%Y-%m-%d %H:%M} UTC), most kernels "
            f"{max(p.kernels for p in st.servers):g}"
        )
    else:
        say("Servers:   no samples yet (the service samples while it runs)")
    if st.machine:
        m = st.machine[-1]
        parts = []
        if m.cpu_load is not None:
            parts.append(f"load {m.cpu_load:.2f}")
        if m.memory_used is not None and m.memory_total:
            parts.append(f"memory {m.memory_used / GIB:.1f} of {m.memory_total / GIB:.1f} GiB")
        if m.disk_free is not None and m.disk_total:
            parts.append(f"disk free {m.disk_free / GIB:.1f} of {m.disk_total / GIB:.1f} GiB")
        peak_load = max((p.cpu_load for p in st.machine if p.cpu_load is not None), default=None)
        if peak_load is not None:
            parts.append(f"highest load {peak_load:.2f}")
        say(f"Machine:   {', '.join(parts)} (at {m.at:%Y-%m-%d %H:%M} UTC)")
