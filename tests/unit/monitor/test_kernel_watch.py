"""The runaway-kernel watch: busy since when, kept up to date from each census."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from coursehub.db import models
from coursehub.db.session import Database
from coursehub.monitor.census import KernelState, ServerState
from coursehub.monitor.kernel_watch import forget_server, runaway, update_watch, watched

T0 = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _server(user: str, course: str, *kernels: tuple[str, str] | None) -> ServerState:
    ks = (
        None
        if kernels == (None,)
        else tuple(
            KernelState(id=k, name="python3", execution_state=st, last_activity=T0, connections=1)
            for k, st in kernels  # type: ignore[misc]
        )
    )
    return ServerState(user, course, True, T0, T0, ks)


def _busy_since(db: Database) -> dict[tuple[str, str], datetime | None]:
    return {(k.username, k.kernel_id): k.busy_since for c in ("ds", "ml") for k in watched(db, c)}


def test_busy_since_is_set_when_first_seen_busy_and_cleared_when_idle(db: Database) -> None:
    update_watch(db, [_server("ana", "ds", ("k1", "busy"), ("k2", "idle"))], T0)
    update_watch(db, [_server("ana", "ds", ("k1", "busy"), ("k2", "busy"))], T0 + MIN)
    assert _busy_since(db) == {("ana", "k1"): T0, ("ana", "k2"): T0 + MIN}
    update_watch(db, [_server("ana", "ds", ("k1", "idle"), ("k2", "busy"))], T0 + 2 * MIN)
    assert _busy_since(db) == {("ana", "k1"): None, ("ana", "k2"): T0 + MIN}
    # busy again after a break: counted from the new start
    update_watch(db, [_server("ana", "ds", ("k1", "busy"), ("k2", "busy"))], T0 + 3 * MIN)
    assert _busy_since(db)[("ana", "k1")] == T0 + 3 * MIN


def test_runaway_lists_kernels_busy_past_the_limit_in_that_course(db: Database) -> None:
    update_watch(
        db,
        [
            _server("ana", "ds", ("k1", "busy"), ("k2", "idle")),
            _server("bo", "ml", ("k3", "busy")),
        ],
        T0,
    )
    update_watch(
        db,
        [
            _server("ana", "ds", ("k1", "busy"), ("k2", "busy")),
            _server("bo", "ml", ("k3", "busy")),
        ],
        T0 + 20 * MIN,
    )
    now = T0 + 31 * MIN
    assert [k.kernel_id for k in runaway(db, "ds", 30 * MIN, now)] == ["k1"]
    assert [k.kernel_id for k in runaway(db, "ds", 5 * MIN, now)] == ["k1", "k2"]
    assert [k.kernel_id for k in runaway(db, "ml", 30 * MIN, now)] == ["k3"]
    assert runaway(db, "ds", timedelta(0), now) == []  # runaway_after 0: never


def test_gone_kernels_and_servers_are_forgotten(db: Database) -> None:
    update_watch(
        db,
        [_server("ana", "ds", ("k1", "busy"), ("k2", "busy")), _server("bo", "ds", ("k3", "busy"))],
        T0,
    )
    # k2 was shut down, bo's server stopped
    update_watch(db, [_server("ana", "ds", ("k1", "busy"))], T0 + MIN)
    assert _busy_since(db) == {("ana", "k1"): T0}
    forget_server(db, "ana", "ds")
    assert _busy_since(db) == {}


def test_an_unanswering_server_or_no_census_changes_nothing(db: Database) -> None:
    update_watch(db, [_server("ana", "ds", ("k1", "busy"))], T0)
    # the server did not answer this round: its kernel is still watched, clock kept
    update_watch(db, [_server("ana", "ds", None)], T0 + MIN)
    update_watch(db, None, T0 + 2 * MIN)  # the hub did not answer
    assert _busy_since(db) == {("ana", "k1"): T0}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(models.KernelWatch)) == 1
        assert s.scalar(select(models.KernelWatch.last_seen)).replace(tzinfo=UTC) == T0
