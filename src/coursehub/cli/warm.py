"""`coursehub course warm COURSE [--at TIME] [--cancel] [--status]`: the students'
course servers started before a class (warmup/ does the work)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console

from coursehub.config.loader import LoadedConfig
from coursehub.config.service_sections import WarmupSection
from coursehub.core.errors import HubNotRunning
from coursehub.core.times import TimeTextError, described, local_zone, parse_time
from coursehub.engines.hub_api import HubClient, cli_api
from coursehub.monitor.disk_usage import human_size as format_size
from coursehub.ops.site import Site, open_site

if TYPE_CHECKING:
    from coursehub.warmup.memory import Bound

HELP = "start the students' course servers before a class (or plan, cancel, show it)"
DESCRIPTION = """\
Without options: start the course servers of the course's enrolled students now,
through the hub, a few at a time, and wait until each is ready or has failed; then
print how many were warmed, failed, refused for memory and could not be warmed (not
yet members: enrolled without an account, until their first sign-in). Exit status 0 when
every server that could be warmed is running (students refused for memory are listed,
not failures), 1 when some failed or the hub is not running, 2 for a course or a time
that cannot be used.

With --at TIME: plan it for a class starting at TIME; the service begins warming
warmup.lead before. Servers a warm-up started that nobody used are stopped
warmup.unused_after after the class start (now, without --at); the idle culler leaves
them alone until then. Lecture times can also be listed in the course's course.yaml
(lectures:), and staff plan warm-ups on the course's staff page."""


def add_parser(csub: argparse._SubParsersAction) -> None:
    w = csub.add_parser(
        "warm",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    w.add_argument("name", metavar="COURSE")
    w.add_argument(
        "--at",
        metavar="TIME",
        help="when the class starts, e.g. '2026-09-07 09:00' (this machine's time zone), "
        "2026-09-07T09:00+02:00 or '2026-09-07 09:00 Europe/Paris'; warming begins "
        "warmup.lead before, run by the service",
    )
    what = w.add_mutually_exclusive_group()
    what.add_argument(
        "--cancel",
        action="store_true",
        help="cancel the course's planned warm-ups (with --at: the one for that class), "
        "and stop the servers already warmed that nobody used",
    )
    what.add_argument(
        "--status", action="store_true", help="who can be warmed now, and the warm-ups"
    )


def run(args: argparse.Namespace, loaded: LoadedConfig, console: Console) -> int:
    from coursehub.config.machine import effective_config
    from coursehub.config.translate.jupyterhub import Machine, warmup_settings

    config = effective_config(loaded.config)
    settings = warmup_settings(config, Machine(sys.executable, os.cpu_count() or 1))
    from coursehub.warmup.schedule import ScheduleError
    from coursehub.warmup.store import WarmupError

    with open_site(loaded) as site:
        if site.courses.get(args.name) is None:
            raise WarmupError(f"no course named {args.name!r} (see `coursehub course list`)")
        try:
            class_start = parse_time(args.at, default_zone=local_zone()) if args.at else None
        except TimeTextError as exc:
            raise ScheduleError(f"--at: {exc}") from None
        if args.status:
            return _status(site, args.name, settings, console)
        if args.cancel:
            return _cancel(site, args.name, class_start, console)
        if class_start is not None:
            return _plan(site, args.name, class_start, settings, console)
        return _warm_now(site, args.name, settings, console)


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _who() -> str:
    try:
        return f"{getpass.getuser()} (command)"
    except (KeyError, OSError):
        return "command"


def _warm_now(site: Site, course: str, settings: WarmupSection, console: Console) -> int:
    from coursehub.warmup.schedule import requested_times
    from coursehub.warmup.store import WarmupStore

    api_url, token = cli_api(site.layout)
    hub = HubClient(api_url, token)
    try:
        if not hub.is_up():
            raise HubNotRunning(f"the hub at {api_url} does not answer; is `coursehub up` running?")
    finally:
        hub.close()
    now = datetime.now(UTC)
    times = requested_times(None, settings.lead, settings.unused_after, now)
    info = WarmupStore(site.database).create(
        course, times, "command", requested_by=_who(), runner="command"
    )
    _say(console, f"Warming the course servers of {course}'s students…")
    result = asyncio.run(_run(site, api_url, token, info.id, settings))
    done = result.info
    counts = done.outcomes
    waiting = done.named("no_account") + done.named("not_signed_in")
    failed = done.named("failed")
    _say(console, f"warmed: {counts['warmed']}")
    _say(console, f"already running: {counts['running']}")
    _say(console, f"failed: {counts['failed']}")
    _say(console, f"refused for memory: {counts['memory']}")
    _say(console, f"not yet members: {len(waiting)}")
    for server in done.servers:
        if server.outcome == "failed":
            _say(console, f"  failed: {server.username}: {server.detail}")
    if counts["memory"]:
        _say(
            console,
            f"  left out for memory (the most recently active students came first): "
            f"{', '.join(done.named('memory'))}",
        )
    if waiting:
        _say(
            console,
            f"  not yet members (no account until their first sign-in): {', '.join(waiting)}",
        )
    _sources(site, course, settings, console)
    if result.bound is not None:
        _say(console, _memory_line(result.bound))
    if done.state == "failed":
        _say(console, done.message)
        return 1
    _say(
        console,
        f"Servers nobody uses are stopped at {described(done.unused_stop_at)} "
        "(warmup.unused_after); the idle culler leaves them alone until then.",
    )
    return 1 if failed else 0


async def _run(site: Site, api_url: str, token: str, warmup_id: int, settings: WarmupSection):  # noqa: ANN202
    import httpx

    from coursehub.warmup import runner
    from coursehub.warmup.hub import HubApi

    async with httpx.AsyncClient(timeout=30) as client:
        hub = HubApi(client, api_url, token)
        return await runner.run(site.database, hub, warmup_id, settings, create_users=True)


def _plan(
    site: Site, course: str, class_start: datetime, settings: WarmupSection, console: Console
) -> int:
    from coursehub.warmup.schedule import requested_times
    from coursehub.warmup.store import WarmupStore

    times = requested_times(class_start, settings.lead, settings.unused_after, datetime.now(UTC))
    info = WarmupStore(site.database).create(course, times, "command", requested_by=_who())
    _say(console, f"Planned warm-up {info.id} of {course}:")
    _say(console, f"  class starts:         {described(class_start)}")
    _say(console, f"  warming begins:       {described(info.begins_at)} (warmup.lead before)")
    _say(console, f"  unused servers stop:  {described(info.unused_stop_at)}")
    _say(console, "The service runs it; `coursehub course warm COURSE --status` shows how it went.")
    return 0


def _cancel(site: Site, course: str, class_start: datetime | None, console: Console) -> int:
    from coursehub.warmup.store import WarmupError, WarmupStore

    store = WarmupStore(site.database)
    chosen = [
        w
        for w in store.of_course(course, limit=50)
        if w.settled_at is None
        and w.state in ("scheduled", "running", "done")
        and (class_start is None or w.class_starts_at == class_start.astimezone(UTC))
    ]
    if not chosen:
        when = f" for a class at {described(class_start)}" if class_start else ""
        raise WarmupError(f"{course} has no warm-up to cancel{when}")
    for warmup in chosen:
        what = store.cancel(course, warmup.id)
        _say(console, f"Warm-up {warmup.id} ({described(warmup.class_starts_at)}): {what}")
    return 0


def _status(site: Site, course: str, settings: WarmupSection, console: Console) -> int:
    from coursehub.warmup.store import WarmupStore

    try:
        api_url, token = cli_api(site.layout)
        plan, bound = asyncio.run(_plan_now(site, api_url, token, course, settings))
    except HubNotRunning as exc:
        _say(console, f"Who can be warmed: unknown ({exc}).")
    else:
        _say(console, f"Students of {course}: {plan.students}")
        _say(console, f"  would be warmed now:  {len(plan.warm)}")
        _say(console, f"  already running:      {len(plan.running)}")
        _say(console, f"  refused for memory:   {len(plan.memory)}")
        _say(console, f"  not yet members:      {len(plan.no_account) + len(plan.not_signed_in)}")
        if bound is not None:
            _say(console, _memory_line(bound))
    _sources(site, course, settings, console)
    warmups = WarmupStore(site.database).of_course(course)
    if not warmups:
        _say(console, "No warm-up planned or run.")
    for w in warmups:
        counts = w.outcomes
        done = f"; {w.message}" if w.message else ""
        after = ", ".join(f"{n} {what}" for what, n in sorted(w.settled.items()))
        _say(
            console,
            f"{w.id}: class {described(w.class_starts_at)} [{w.source}] {w.state}"
            f"{done}" + (f" After the class: {after}." if after else ""),
        )
        if w.state == "scheduled":
            _say(console, f"    begins {described(w.begins_at)}")
        elif w.state == "running":
            _say(console, f"    {counts['warmed']} warmed so far, {counts['planned']} to go")
    return 0


async def _plan_now(site: Site, api_url: str, token: str, course: str, settings: WarmupSection):  # noqa: ANN202
    import httpx

    from coursehub.warmup import runner
    from coursehub.warmup.hub import HubApi

    async with httpx.AsyncClient(timeout=30) as client:
        hub = HubApi(client, api_url, token)
        try:
            return await runner.plan_for(site.database, hub, course, settings, create_users=True)
        except httpx.TransportError:
            raise HubNotRunning(f"the hub at {api_url} does not answer") from None


def _sources(site: Site, course: str, settings: WarmupSection, console: Console) -> None:
    from coursehub.warmup.runner import joined_at_signin

    sources = joined_at_signin(site.database, course, settings)
    if sources:
        _say(
            console,
            f"People also join {course} at their sign-in from {'; '.join(sources)}: those who "
            "have not signed in yet are not known here, so they cannot be warmed.",
        )


def _memory_line(bound: Bound) -> str:
    per = bound.per_student

    def how(measured: int) -> str:
        return f"measured on {measured} running" if measured else "default, none running"

    return (
        f"Memory: {format_size(bound.available)} available, {format_size(bound.reserve)} kept in "
        f"reserve (warmup.reserve); per student {format_size(per.total)} (server "
        f"{format_size(per.server)}, {how(per.server_measured)}; kernel "
        f"{format_size(per.kernel)}, {how(per.kernel_measured)}): room for {bound.fits} more."
    )
