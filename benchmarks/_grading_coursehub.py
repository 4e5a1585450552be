"""The coursehub side of the grading benchmark, run as its own process (as the
service's grading workers are): ``python _grading_coursehub.py SPEC.json``.

SPEC names the data dir and database (the assignments already created there), the
answer notebooks to submit, and how many workers. Phases (marks on stdout):

- ``submit``: every answer stored with GradingStore.submit (not timed);
- ``overhead``: the trivial submissions graded one at a time by one worker, each
  from enqueue to finish;
- ``main``: all main submissions enqueued at once, ``parallel`` workers grade them;
- ``done``: then the results (per grading: state, total, points, seconds, times).

SIGTERM or SIGINT: the workers stop, every process of this run's sandbox accounts is
killed (so the gradings under way end at once) and the accounts are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pwd
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from _grading_measure import mark, result
from coursehub.config.models import GradingLimitsConfig
from coursehub.db.session import Database
from coursehub.grading import sandbox
from coursehub.grading.grader import limits_from
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from coursehub.grading.workers import GradingWorkers


def our_accounts(prefix: str) -> list[tuple[str, int]]:
    return [(p.pw_name, p.pw_uid) for p in pwd.getpwall() if p.pw_name.startswith(prefix)]


def kill_ours(prefix: str) -> None:
    """Kill every process of this run's sandbox accounts: the gradings under way see
    their kernel die, end at once and remove their accounts."""
    for _name, uid in our_accounts(prefix):
        with contextlib.suppress(Exception):
            sandbox.kill_all_of(uid, rounds=5)


def submit_all(store: GradingStore, course: str, name: str, answers: list[dict]) -> list[int]:
    assignment = store.get(course, name)
    ids = []
    for a in answers:
        files = {a["notebook"]: Path(a["path"]).read_bytes()}
        stored = store.submit(assignment, a["username"], files, origin="upload")
        if stored.duplicate:
            raise RuntimeError(f"{a['username']}'s answer was taken as a duplicate")
        ids.append(stored.submission.id)
    return ids


async def grade(spec: dict[str, Any]) -> dict[str, Any]:
    store = GradingStore(Database(spec["db_url"]), GradingPaths(Path(spec["data_dir"])))
    limits = limits_from(
        GradingLimitsConfig()
    )  # the service's defaults (coursehub.yaml without a grading section)
    course = spec["course"]
    mark("submit")
    trivial = submit_all(store, course, spec["trivial"], spec["trivial_answers"])
    main = submit_all(store, course, spec["assignment"], spec["answers"])

    mark("overhead")
    workers = GradingWorkers(store, limits, parallel=1)
    workers.start()
    one_by_one: list[float] = []
    trivial_gids = []
    try:
        for sid in trivial:
            started = time.monotonic()
            [gid] = store.enqueue([sid], "benchmark")
            workers.wake()
            if not await workers.wait_for(gid, spec["grading_timeout"]):
                raise RuntimeError(f"trivial grading {gid} did not finish in time")
            one_by_one.append(time.monotonic() - started)
            trivial_gids.append(gid)
    finally:
        await workers.stop()

    mark("main")
    workers = GradingWorkers(store, limits, parallel=spec["parallel"])
    workers.start()
    try:
        enqueued = time.time()
        gids = store.enqueue(main, "benchmark")
        workers.wake()
        waits = [workers.wait_for(g, spec["main_timeout"]) for g in gids]
        finished = await asyncio.gather(*waits)
        if not all(finished):
            raise RuntimeError(f"{finished.count(False)} gradings did not finish in time")
    finally:
        await workers.stop()
    mark("done")
    rows = [store.grading(g) for g in gids]
    last = max(r.finished_at.timestamp() for r in rows)  # type: ignore[union-attr]
    return {
        "trivial": [_row(store.grading(g)) for g in trivial_gids],
        "trivial_seconds": one_by_one,
        "main": [_row(r) for r in rows],
        "enqueued_at": enqueued,
        "last_finished_at": last,
    }


def _row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "submission": r.submission_id,
        "state": r.state,
        "total": r.total,
        "questions": {k: v["points"] for k, v in json.loads(r.questions or "{}").items()},
        "outcome": r.outcome,
        "seconds": r.seconds,
    }


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    # This run's sandbox accounts get a prefix of their own, so that whatever is left
    # after an interruption can be found and removed without touching anyone else's.
    sandbox.ACCOUNT_PREFIX = spec["account_prefix"]

    def stop(signum: int, frame: FrameType | None) -> None:
        kill_ours(spec["account_prefix"])
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        result(asyncio.run(grade(spec)))
    except KeyboardInterrupt:
        kill_ours(spec["account_prefix"])
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
