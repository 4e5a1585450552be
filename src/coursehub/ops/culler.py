"""`python -m coursehub.ops.culler`: the hub service that stops idle and old servers.

A thin loop around jupyterhub_idle_culler's own `cull_idle`, with an arbiter that
applies each course's idle timeout and maximum age (`idle.courses`), else the site's.
Age is decided here, not by `cull_idle`'s site-wide `max_age`, so it can be per course.

Servers are only stopped: named servers are never removed (the student's next open
starts the same workspace) and no file is touched.

Servers a warm-up started before a class (warmup/) are left alone until its unused
ones are stopped (warmup.unused_after after the class start): the list is read from the
coursehub database (COURSEHUB_DATABASE_URL) once per round, never from anything a
server or its student can set.

The policy comes as JSON in COURSEHUB_CULL_POLICY (made by config/translate/jupyterhub.py);
JupyterHub gives its managed services JUPYTERHUB_API_URL and JUPYTERHUB_API_TOKEN.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

POLICY_ENV = "COURSEHUB_CULL_POLICY"
DATABASE_ENV = "COURSEHUB_DATABASE_URL"
# (student, course) -> until when a warm-up asks that server to be spared
Spared = Mapping[tuple[str, str], datetime]

log = logging.getLogger("coursehub.culler")


class PolicyError(ValueError):
    """The culling policy given to the service is not usable."""


@dataclass(frozen=True)
class Limits:
    timeout: int  # seconds idle before a server is stopped (0: never for idleness)
    max_age: int  # seconds since start before a server is stopped (0: no limit)

    @property
    def active(self) -> bool:
        return self.timeout > 0 or self.max_age > 0


@dataclass(frozen=True)
class CullPolicy:
    site: Limits
    # course name -> (timeout, max_age), None meaning "the site's"
    courses: Mapping[str, tuple[int | None, int | None]] = field(default_factory=dict)

    def limits(self, course: str) -> Limits:
        """The limits of a course's servers (a default server "" gets the site's)."""
        timeout, max_age = self.courses.get(course, (None, None)) if course else (None, None)
        return Limits(
            timeout=self.site.timeout if timeout is None else timeout,
            max_age=self.site.max_age if max_age is None else max_age,
        )

    @property
    def active(self) -> bool:
        """Whether any server could ever be culled (else the service need not run)."""
        return self.site.active or any(self.limits(c).active for c in self.courses)


def _seconds(value: Any, where: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"{where}: expected a number of seconds >= 0, got {value!r}")
    return value


def policy_from_json(text: str) -> CullPolicy:
    """The policy of COURSEHUB_CULL_POLICY: {"timeout", "max_age", "courses": {name:
    {"timeout", "max_age"}}}, seconds, a course's null meaning the site's."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise PolicyError(f"{POLICY_ENV} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{POLICY_ENV}: expected an object")
    site = Limits(
        timeout=_seconds(raw.get("timeout", 0), "timeout") or 0,
        max_age=_seconds(raw.get("max_age", 0), "max_age") or 0,
    )
    courses_raw = raw.get("courses") or {}
    if not isinstance(courses_raw, dict):
        raise PolicyError(f"{POLICY_ENV}: courses must be an object")
    courses: dict[str, tuple[int | None, int | None]] = {}
    for name, c in courses_raw.items():
        if not isinstance(c, dict):
            raise PolicyError(f"courses.{name}: expected an object")
        courses[str(name)] = (
            _seconds(c.get("timeout"), f"courses.{name}.timeout", optional=True),
            _seconds(c.get("max_age"), f"courses.{name}.max_age", optional=True),
        )
    return CullPolicy(site=site, courses=courses)


def _duration(seconds: float) -> str:
    s = int(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def cull_reason(limits: Limits, inactive: timedelta | None, age: timedelta | None) -> str | None:
    """Why a server with these limits should be stopped now, or None to keep it."""
    if limits.timeout and inactive is not None and inactive.total_seconds() >= limits.timeout:
        return f"idle for {_duration(inactive.total_seconds())} (limit {_duration(limits.timeout)})"
    if limits.max_age and age is not None and age.total_seconds() >= limits.max_age:
        return (
            f"older than {_duration(limits.max_age)} (started {_duration(age.total_seconds())} ago)"
        )
    return None


def _started_age(server: Mapping[str, Any], now: datetime) -> timedelta | None:
    started = server.get("started")
    if not isinstance(started, str) or not started:
        return None
    try:
        when = datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return now - when


def _owner(server: Mapping[str, Any]) -> str:
    # the server model has no user name; its URL is <base>user/<name>/<server>/
    parts = [p for p in str(server.get("url") or "").split("/") if p]
    if "user" in parts and parts.index("user") + 1 < len(parts):
        return parts[parts.index("user") + 1]
    return "?"


def spared_until(spared: Spared, owner: str, course: str, now: datetime) -> datetime | None:
    """Until when a warm-up asks to spare `owner`'s server `course` (None: it does not)."""
    until = spared.get((owner, course)) if course else None
    return until if until is not None and until > now else None


def make_arbiter(
    policy: CullPolicy, clock: Any = None, spared: Callable[[], Spared] | None = None
) -> Any:
    """The `cull_arbiter` hook of `cull_idle`: True to stop this server now. `spared`
    gives the servers warm-ups ask to leave alone, and until when."""

    def arbiter(*, inactive: timedelta | None, inactive_limit: int, server: dict, **_: Any) -> bool:
        course = str(server.get("name") or "")
        now = clock() if clock else datetime.now(UTC)
        until = spared_until(spared(), _owner(server), course, now) if spared else None
        if until is not None:
            log.debug(
                "leaving %s/%s alone: warmed for a class, until %s", _owner(server), course, until
            )
            return False
        reason = cull_reason(policy.limits(course), inactive, _started_age(server, now))
        if reason:
            label = f"{_owner(server)}/{course}" if course else _owner(server)
            log.info("stopping server %s: %s", label, reason)
        return reason is not None

    return arbiter


def warm_servers(database_url: str) -> Callable[[datetime], dict[tuple[str, str], datetime]]:
    """Reads, from the coursehub database, the servers warm-ups ask to spare."""
    from coursehub.db.session import Database
    from coursehub.warmup.store import WarmupStore

    store = WarmupStore(Database(database_url))
    return store.protected


async def cull_forever(
    url: str, token: str, policy: CullPolicy, every: float, database_url: str = ""
) -> None:
    from jupyterhub_idle_culler import cull_idle

    # the library logs its own "Culling server" line; ours says why, once
    quiet = logging.getLogger("coursehub.culler.hub")
    quiet.setLevel(logging.WARNING)
    read_spared = warm_servers(database_url) if database_url else None
    spared: dict[tuple[str, str], datetime] = {}
    arbiter = make_arbiter(policy, spared=lambda: spared)
    while True:
        if read_spared is not None:
            try:
                fresh = await asyncio.to_thread(read_spared, datetime.now(UTC))
            except Exception as exc:  # noqa: BLE001 - the database away: spare what was spared
                log.warning("could not read the warmed servers: %s", exc)
            else:
                spared.clear()
                spared.update(fresh)
        try:
            await cull_idle(
                url=url,
                api_token=token,
                inactive_limit=policy.site.timeout,
                logger=quiet,
                cull_users=False,
                remove_named_servers=False,  # a student's course server stays theirs
                max_age=0,  # decided per course by the arbiter
                cull_arbiter=arbiter,
            )
        except Exception as exc:  # the hub restarting: try again next round
            log.warning("could not check servers: %s", exc)
        await asyncio.sleep(every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursehub.ops.culler")
    parser.add_argument("--cull-every", type=float, default=60.0, help="seconds between checks")
    args = parser.parse_args(argv)
    url = os.environ.get("JUPYTERHUB_API_URL", "").rstrip("/")
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if not url or not token:
        print("JUPYTERHUB_API_URL and JUPYTERHUB_API_TOKEN must be set", file=sys.stderr)
        return 2
    if args.cull_every <= 0:
        print("--cull-every must be > 0", file=sys.stderr)
        return 2
    try:
        policy = policy_from_json(os.environ.get(POLICY_ENV, "{}"))
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    from coursehub.core.logs import ENV as LOG_ENV
    from coursehub.core.logs import make_formatter

    handler = logging.StreamHandler(sys.stderr)
    try:
        handler.setFormatter(make_formatter(os.environ.get(LOG_ENV, "text").strip() or "text"))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    log.info("culling idle servers every %ss", args.cull_every)
    # the hub stops its services with SIGINT: a clean exit, no traceback
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            cull_forever(
                url, token, policy, args.cull_every, os.environ.get(DATABASE_ENV, "").strip()
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
