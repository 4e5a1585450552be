"""Running a warm-up, and stopping its unused servers after the class.

run(): the course's students are planned (plan.py) against the memory bound
(memory.py), then their servers are started through the hub's REST API, at most
`concurrency` at a time, each waited for until it answers: a warm-up never puts more
than that into the hub's start queue, so a student who clicks meanwhile waits behind
a few starts, not a class's worth. What happened to each student is recorded as it
happens.

settle(): at the class start plus warmup.unused_after, each server the warm-up
started is looked at. Used (someone signed in to it in a browser since it started, or
opened a course link since the warm-up began): it stays, and from now on the idle
culler treats it as any other. Unused: stopped. When the hub does not say, it stays:
a server is never stopped on a guess. Servers the warm-up found running are never
stopped by it.

Kernels are not started beforehand: a notebook's kernel is the one JupyterLab asks for
when the notebook opens, by the notebook's own kernel name, and course kernels are
forked from a template already (a fraction of a second); one started ahead would
hold its memory for every absent student and still not be the one JupyterLab uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select

from coursehub.config.service_sections import WarmupSection
from coursehub.core.roles import groups_for_role
from coursehub.db import models
from coursehub.db.session import Database
from coursehub.warmup import memory
from coursehub.warmup.hub import HubApi, HubRefused
from coursehub.warmup.plan import Plan, make_plan
from coursehub.warmup.store import WarmServerInfo, WarmUpInfo, WarmupStore

log = logging.getLogger("coursehub.warmup")
LOOKUPS = 8  # students looked up in the hub at once
LIST_ABOVE = 40  # a larger class is read from the hub's user list, 200 users a page


@dataclass(frozen=True)
class Result:
    """A warm-up as it ended, with the memory bound it was planned against (None where
    servers do not run on this machine, or when it could not be planned)."""

    info: WarmUpInfo
    bound: memory.Bound | None


@dataclass(frozen=True)
class Roster:
    students: list[str]
    accounts: set[str]
    last_opened: dict[str, datetime]


def roster(db: Database, course: str) -> Roster:
    """The course's enrolled students, which of them have an account, and when each
    last opened one of its notebooks."""
    with db.session() as s:
        students = list(
            s.scalars(
                select(models.Enrolment.username)
                .where(models.Enrolment.course == course)
                .where(models.Enrolment.role == "student")
            )
        )
        accounts = set(
            s.scalars(select(models.Account.username).where(models.Account.username.in_(students)))
        )
        opened = s.execute(
            select(models.NotebookCopy.username, func.max(models.NotebookCopy.last_opened_at))
            .where(models.NotebookCopy.course == course)
            .group_by(models.NotebookCopy.username)
        )
        last = {name: _aware(at) for name, at in opened if at is not None}
    return Roster(sorted(students), accounts, last)


async def hub_states(hub: HubApi, names: list[str], course: str) -> tuple[set[str], set[str]]:
    """Of `names`: those the hub knows, and those whose server `course` runs or starts.
    A small class is looked up student by student; a large one from the hub's list of
    users, a few requests whatever the class's size."""
    if len(names) > LIST_ABOVE:
        wanted = set(names)
        everyone = await hub.all_users()
        listed = {n for n in everyone if n in wanted}
        return listed, {n for n in listed if course in everyone[n]}
    gate = asyncio.Semaphore(LOOKUPS)
    known: set[str] = set()
    running: set[str] = set()

    async def look(name: str) -> None:
        async with gate:
            model = await hub.user(name)
        if model is None:
            return
        known.add(name)
        if course in (model.get("servers") or {}):
            running.add(name)

    await asyncio.gather(*(look(n) for n in names))
    return known, running


def memory_bound(
    settings: WarmupSection, measure: Callable[[], memory.MemoryFigures]
) -> memory.Bound:
    return memory.bound(measure(), settings.reserve, settings.server_memory, settings.kernel_memory)


async def plan_for(
    db: Database,
    hub: HubApi,
    course: str,
    settings: WarmupSection,
    create_users: bool,
    measure: Callable[[], memory.MemoryFigures] = memory.measure,
) -> tuple[Plan, memory.Bound | None]:
    """Who would be warmed now, and the memory bound it was planned against (None
    where servers do not run on this machine)."""
    found = await asyncio.to_thread(roster, db, course)
    known, running = await hub_states(
        hub, [n for n in found.students if n in found.accounts], course
    )
    bound = (
        await asyncio.to_thread(memory_bound, settings, measure) if settings.memory_bound else None
    )
    plan = make_plan(
        found.students,
        found.accounts,
        known,
        running,
        found.last_opened,
        bound.fits if bound else None,
        create_users=create_users,
    )
    return plan, bound


async def run(
    db: Database,
    hub: HubApi,
    warmup_id: int,
    settings: WarmupSection,
    *,
    create_users: bool = False,
    measure: Callable[[], memory.MemoryFigures] = memory.measure,
) -> Result:
    """Run a claimed warm-up to its end; what it did."""
    store = WarmupStore(db)
    info = await asyncio.to_thread(store.get, warmup_id)
    if info is None:
        raise LookupError(f"no warm-up {warmup_id}")
    course = info.course
    try:
        plan, bound = await plan_for(db, hub, course, settings, create_users, measure)
    except (HubRefused, httpx.HTTPError, OSError, ValueError) as exc:
        message = f"Could not plan the warm-up: {exc or type(exc).__name__}"
        await asyncio.to_thread(store.finish, warmup_id, "failed", message)
        log.warning("warm-up %d of %s: %s", warmup_id, course, message)
        return Result(await _reread(store, warmup_id), None)
    await asyncio.to_thread(store.record_plan, warmup_id, course, plan)
    log.info(
        "warm-up %d of %s: starting %d servers (%d running, %d beyond memory, %d without "
        "account, %d not signed in)",
        warmup_id, course, len(plan.warm), len(plan.running), len(plan.memory),
        len(plan.no_account), len(plan.not_signed_in),
    )  # fmt: skip
    gate = asyncio.Semaphore(max(1, settings.concurrency))
    creating = set(plan.create)

    async def one(name: str) -> None:
        async with gate:
            try:
                if name in creating:
                    await hub.create_user(name, groups_for_role("student"))
                done = await hub.start(name, course, settings.start_timeout)
            except (HubRefused, httpx.HTTPError, OSError) as exc:
                why = str(exc) or f"the hub did not answer ({type(exc).__name__})"
                await asyncio.to_thread(store.record, warmup_id, name, "failed", why)
                return
            except Exception as exc:  # noqa: BLE001 - one student's failure is theirs only
                log.exception("warm-up %d: starting %s/%s", warmup_id, name, course)
                await asyncio.to_thread(store.record, warmup_id, name, "failed", repr(exc))
                return
        await asyncio.to_thread(
            store.record, warmup_id, name, done.outcome, done.detail, done.started
        )

    await asyncio.gather(*(one(n) for n in plan.warm))
    after = await _reread(store, warmup_id)
    message = summary(after, bound)
    await asyncio.to_thread(store.finish, warmup_id, "done", message)
    log.info("warm-up %d of %s: %s", warmup_id, course, message)
    return Result(await _reread(store, warmup_id), bound)


def summary(info: WarmUpInfo, bound: memory.Bound | None) -> str:
    """One paragraph of what a warm-up did, as the staff page and the command say it."""
    counts = info.outcomes
    parts = [f"{counts['warmed']} warmed"]
    if counts["running"]:
        parts.append(f"{counts['running']} already running")
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed")
    if counts["memory"]:
        per = bound.per_student.total // 2**20 if bound else 0
        parts.append(
            f"{counts['memory']} refused for memory (each student needs about {per} MiB; "
            f"left out: {', '.join(info.named('memory'))})"
        )
    waiting = counts["no_account"] + counts["not_signed_in"]
    if waiting:
        parts.append(f"{waiting} could not be warmed (not yet members of the hub)")
    return "; ".join(parts) + "."


async def settle(
    db: Database, hub: HubApi, warmup_id: int, now: datetime | None = None
) -> dict[str, int]:
    """Stop the unused servers of a warm-up whose time has come; how many were used,
    stopped, gone (stopped meanwhile) and kept."""
    store = WarmupStore(db)
    info = await asyncio.to_thread(store.get, warmup_id)
    if info is None:
        return {}
    began = info.started_at or info.begins_at
    opened = await asyncio.to_thread(_links_opened, db, info.course, began)
    counts: dict[str, int] = {}
    for server in info.servers:
        if server.outcome not in ("warmed", "running") or server.settled:
            continue
        try:
            verdict = await _verdict(hub, info.course, server.username, server, opened, began)
        except (HubRefused, httpx.HTTPError, OSError) as exc:
            log.warning("warm-up %d: %s/%s kept: %r", warmup_id, server.username, info.course, exc)
            verdict = "kept"
        await asyncio.to_thread(store.mark_settled, warmup_id, server.username, verdict)
        counts[verdict] = counts.get(verdict, 0) + 1
    await asyncio.to_thread(store.settled, warmup_id)
    if counts:
        log.info("warm-up %d of %s after the class: %s", warmup_id, info.course, counts)
    return counts


async def _verdict(
    hub: HubApi, course: str, name: str, server: WarmServerInfo, opened: set[str], began: datetime
) -> str:
    seen = await hub.server(name, course)
    if seen is None:
        return "gone"
    ours = server.outcome == "warmed" and seen.started == server.started_at
    since = server.started_at if ours and server.started_at else began
    if name in opened or await hub.opened_since(name, course, since):
        return "used"
    if not ours:  # found running, or restarted since: not the warm-up's to stop
        return "kept"
    await hub.stop(name, course)
    return "stopped"


def _links_opened(db: Database, course: str, since: datetime) -> set[str]:
    """Students who opened a course link of `course` since `since`."""
    with db.session() as s:
        return set(
            s.scalars(
                select(models.NotebookCopy.username)
                .where(models.NotebookCopy.course == course)
                .where(models.NotebookCopy.last_opened_at >= since)
            )
        )


async def _reread(store: WarmupStore, warmup_id: int) -> WarmUpInfo:
    info = await asyncio.to_thread(store.get, warmup_id)
    assert info is not None
    return info


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def joined_at_signin(db: Database, course: str, settings: WarmupSection) -> list[str]:
    """Where people join `course` at their sign-in (GitHub teams, LMS courses): whoever
    has not signed in yet is not known, so they cannot be warmed."""
    found = [f"GitHub team {team}" for team in settings.signin_teams.get(course, [])]
    with db.session() as s:
        for title, label in s.execute(
            select(models.LtiContext.title, models.LtiContext.label)
            .where(models.LtiContext.course == course)
            .order_by(models.LtiContext.id)
        ):
            found.append(f"the LMS course {title or label or '(untitled)'}")
    return found
