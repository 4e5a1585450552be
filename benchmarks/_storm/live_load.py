"""The live class benchmark's clients: simulated students, the instructor's dashboard,
and the ingest load of the throughput phase.

Students. A real course server reports through its server extension
(coursehub.student.events): each cell run is a ``cell_executed`` event, each save a
``notebook_saved`` event with the file's sha256 and its tail (``tail_of``), and the
events of one burst go in one POST to the service's events API. 100 JupyterLab servers
do not fit on a 2-core machine, so each simulated student keeps its own copy of the
notebook in a per-student directory, changes it as it "works", writes it to disk on
each save (atomically, as Jupyter does) and posts those same requests itself, directly
to the service as the extension does, with the student's real hub token, the same
HTTP client (tornado's ``AsyncHTTPClient``: a new connection for each POST) and the
same batching (``Sender``: a 50 ms gather window, one POST at a time). A student works
on its schedule whatever the service does; a slow service makes batches larger.
(httpx is not used for the POSTs: its connection pool costs the driver about 17 ms of
CPU per request with 100 connections open, which would starve the service it measures.)

Dashboard. One instructor client holds the notebook's event stream (through the proxy,
as the dashboard page does) and notes when each (student, sha256) first arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
from tornado.httpclient import AsyncHTTPClient

from coursehub.core.notebook_tail import tail_of

ERRORS = ("NameError", "TypeError", "ZeroDivisionError", "KeyError")
ERROR_SHARE = 0.1  # one cell run in ten fails
RUN_EVERY = (0.8, 1.2)  # seconds between a student's cell runs
SAVE_EVERY = (4.0, 6.0)  # seconds between a student's saves
GATHER_SECONDS = 0.05  # the extension's gather window: a burst's events in one POST
MAX_BATCH = 500  # and at most this many
DRAIN = 60.0  # seconds for the last queued events to be posted after the class
POST_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
JSON = {"Content-Type": "application/json"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def starting_notebook(code_cells: int = 8) -> dict[str, Any]:
    """A lesson notebook like the course's: a title, then (explanation, code) pairs."""
    cells: list[dict[str, Any]] = [
        {
            "cell_type": "markdown",
            "id": "title",
            "metadata": {},
            "source": "# Introduction\n\nThis week: variables and lists. Run each cell in turn.",
        }
    ]
    for i in range(1, code_cells + 1):
        cells.append(
            {
                "cell_type": "markdown",
                "id": f"md{i}",
                "metadata": {},
                "source": f"## Step {i}\n\nRead the code, predict, then run it.",
            }
        )
        cells.append(
            {
                "cell_type": "code",
                "id": f"code{i}",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": f"values = [x ** {i} for x in range(10)]\nsum(values)",
            }
        )
    meta = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


def event(kind: str, course: str, path: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One event exactly as the server extension's Reporter.emit builds it."""
    return {
        "type": kind,
        "course": course,
        "path": path,
        "filename": PurePosixPath(path).name,
        "timestamp": now_iso(),
        "data": data,
        **extra,
    }


class StudentCopy:
    """One student's copy of the notebook, changed in memory as they work, written to
    ``<dir>/<user>/<notebook>`` on each save."""

    def __init__(
        self, user: str, root: Path, notebook: str, rng: random.Random, tag: str = ""
    ) -> None:
        self.user = user
        self.file = root / user / notebook
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.nb = starting_notebook()
        # each segment's copies differ, so a (student, sha256) is seen in one segment only
        self.nb["metadata"]["segment"] = tag
        self.rng = rng
        self.code = [i for i, c in enumerate(self.nb["cells"]) if c["cell_type"] == "code"]
        self.count = 0
        self.edits = 0
        self.current = self.code[0]
        self.tail_cpu_s = 0.0  # the work a course server does per save (sha + tail)
        self.write()

    def run_cell(self) -> dict[str, Any]:
        """Run the next code cell (back to the first after the last): its outputs and
        count change; the ``cell_executed`` data the extension would send."""
        self.count += 1
        index = self.code[(self.count - 1) % len(self.code)]
        self.current = index
        cell = self.nb["cells"][index]
        cell["execution_count"] = self.count
        if self.rng.random() < ERROR_SHARE:
            name = self.rng.choice(ERRORS)
            cell["outputs"] = [
                {
                    "output_type": "error",
                    "ename": name,
                    "evalue": "example",
                    "traceback": [f"{name}: example"],
                }
            ]
            return {"status": "error", "error": name, "count": self.count}
        cell["outputs"] = [
            {
                "output_type": "execute_result",
                "execution_count": self.count,
                "metadata": {},
                "data": {"text/plain": str(self.count * 285)},
            }
        ]
        return {"status": "ok", "count": self.count}

    def write(self) -> bytes:
        data = (json.dumps(self.nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
        tmp = self.file.with_name(f".~{self.file.name}")
        tmp.write_bytes(data)
        os.replace(tmp, self.file)  # atomic, as Jupyter's atomic_writing
        return data

    def save(self, with_tail: bool = True) -> tuple[str, dict[str, Any] | None]:
        """Edit the current cell, write the file; its sha256 and (with_tail: as a course
        server's extension computes them from the saved file) its tail."""
        self.edits += 1
        cell = self.nb["cells"][self.current]
        cell["source"] = cell["source"].split("\n# edit")[0] + f"\n# edit {self.edits}"
        data = self.write()
        if not with_tail:  # a plain server: nothing but the file (the sha is the benchmark's)
            return hashlib.sha256(data).hexdigest(), None
        started = time.thread_time()
        digest = hashlib.sha256(data).hexdigest()
        tail = tail_of(json.loads(data))
        self.tail_cpu_s += time.thread_time() - started
        return digest, tail


@dataclass
class Save:
    user: str
    sha256: str
    saved_at: float  # epoch: the file is on disk (the poller can see it from here on)
    sent_at: float  # epoch: just before its POST was sent (the dashboard clock starts)
    status: int = 0  # the POST's HTTP status (0: no answer)


@dataclass
class ClassRun:
    """What the students of the latency phase did."""

    saves: list[Save] = field(default_factory=list)
    batch_sizes: Counter[int] = field(default_factory=Counter)  # events per POST
    posts: int = 0
    events: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    post_s: list[float] = field(default_factory=list)
    tail_cpu_s: float = 0.0
    loop_lag_s: list[float] = field(default_factory=list)


class Dashboard:
    """The instructor's event stream, read as the dashboard page's EventSource reads it.

    Records the first arrival (epoch) of each (user, sha256). Reconnects after a
    ``reload`` (the service says this client fell behind) or a dropped stream, and counts
    both.
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"token {token}", "Accept": "text/event-stream"}
        self.arrivals: dict[tuple[str, str], float] = {}
        self.updates = 0
        self.reloads = 0
        self.reconnects = 0
        self.snapshot = asyncio.Event()
        self.snapshot_students = 0
        self.error: str | None = None

    async def run(self) -> None:
        timeout = httpx.Timeout(60, connect=10)  # keepalives come every 15 s
        async with httpx.AsyncClient(timeout=timeout) as client:
            while True:
                try:
                    await self._once(client)
                except (httpx.HTTPError, OSError) as e:
                    self.error = f"{e.__class__.__name__}: {e}"
                self.reconnects += 1
                await asyncio.sleep(0.5)

    async def _once(self, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", self.url, headers=self.headers) as r:
            if r.status_code != 200:
                self.error = f"stream answered {r.status_code}: {(await r.aread())[:200]!r}"
                return
            kind = ""
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    at = time.time()
                    data = json.loads(line[6:])
                    if kind == "update":
                        self.updates += 1
                        key = (data.get("user"), data.get("sha256"))
                        if key[1] and key not in self.arrivals:
                            self.arrivals[key] = at
                    elif kind == "snapshot":
                        self.snapshot_students = len(data.get("students") or [])
                        self.snapshot.set()
                    elif kind == "reload":
                        self.reloads += 1
                        return


def poster(max_clients: int) -> AsyncHTTPClient:
    """A client of its own (not tornado's shared one, which queues beyond 10 requests)."""
    return AsyncHTTPClient(force_instance=True, max_clients=max_clients)


async def post(client: AsyncHTTPClient, url: str, body: bytes, headers: dict[str, str]) -> str:
    """POST as the extension's EventSender does; the HTTP status, or the error's name."""
    try:
        r = await client.fetch(
            url,
            method="POST",
            body=body,
            headers=headers,
            raise_error=False,
            request_timeout=POST_TIMEOUT,
            connect_timeout=CONNECT_TIMEOUT,
        )
    except Exception as e:  # refused, reset, timed out: tallied, not retried
        return e.__class__.__name__
    return str(r.code)


async def _lag_probe(out: list[float], every: float = 0.1) -> None:
    """How late the driver's event loop wakes up: its own delay in every figure."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + every
        await asyncio.sleep(every)
        out.append(max(0.0, loop.time() - due))


class Sender:
    """One student server's EventSender (coursehub.student.events.sender), as it behaves:
    events queue up; after a 50 ms gather window everything queued (up to 500) goes in
    one POST, one POST at a time, so a slow service makes batches larger, not more
    numerous. (Not modelled: its retries after a 5xx or 429; those are counted here.)"""

    def __init__(self, client: AsyncHTTPClient, url: str, token: str, run: ClassRun) -> None:
        self.client, self.url, self.run = client, url, run
        self.headers = {**JSON, "Authorization": f"token {token}"}
        self.queue: list[tuple[dict[str, Any], Save | None]] = []
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()

    def send(self, event: dict[str, Any], save: Save | None = None) -> None:
        self.queue.append((event, save))
        self.idle.clear()
        self.wake.set()

    async def loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            await asyncio.sleep(GATHER_SECONDS)
            while self.queue:
                items, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
                body = json.dumps([e for e, _ in items]).encode()
                sent = time.time()
                for _, save in items:
                    if save is not None:
                        save.sent_at = sent
                status = await post(self.client, self.url, body, self.headers)
                self.run.statuses[status] += 1
                self.run.post_s.append(time.time() - sent)
                self.run.posts += 1
                self.run.events += len(items)
                self.run.batch_sizes[len(items)] += 1
                for _, save in items:
                    if save is not None:
                        save.status = int(status) if status.isdigit() else 0
            if not self.queue:
                self.idle.set()


async def _student(
    copy: StudentCopy, sender: Sender | None, course: str, path: str, start: float,
    end: float, run: ClassRun,
) -> None:  # fmt: skip
    """Run a cell every ~1 s and save every ~5 s (random phases), from `start` to `end`
    (loop time), whatever the service does: the events go to the student's sender (None:
    a plain server, which only writes the file)."""
    loop = asyncio.get_running_loop()
    rng = copy.rng
    next_run = start + rng.uniform(0, RUN_EVERY[1])
    next_save = start + rng.uniform(0, SAVE_EVERY[1])
    while True:
        await asyncio.sleep(max(0.0, next_run - loop.time()))
        if loop.time() >= end:
            return
        ran = copy.run_cell()
        if sender is not None:
            sender.send(event("cell_executed", course, path, ran))
        if loop.time() >= next_save:
            digest, tail = copy.save(with_tail=sender is not None)
            at = time.time()
            save = Save(copy.user, digest, saved_at=at, sent_at=at if sender is None else 0.0)
            run.saves.append(save)
            if sender is not None:
                data = {"sha256": digest}
                sender.send(event("notebook_saved", course, path, data, tail=tail), save)
            next_save += rng.uniform(*SAVE_EVERY)
        next_run += rng.uniform(*RUN_EVERY)


def make_copies(
    students: list[str], root: Path, notebook: str, seed: int, tag: str = ""
) -> list[StudentCopy]:
    """Every student's copy; the same seed gives every segment the same schedules."""
    return [
        StudentCopy(user, root, notebook, random.Random(seed * 1000 + i), tag)
        for i, user in enumerate(students)
    ]


async def class_in_session(
    copies: list[StudentCopy],
    tokens: dict[str, str],
    url: str,
    course: str,
    path: str,
    start_epoch: float,
    seconds: float,
    send_events: bool = True,
) -> ClassRun:
    """Every student works from `start_epoch` for `seconds`; returns what they did.
    send_events=False: plain servers, which only write their files (no events)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + max(0.0, start_epoch - time.time())
    end = start + seconds
    run = ClassRun()
    client = poster(len(copies))
    senders = [Sender(client, url, tokens[c.user], run) for c in copies] if send_events else []
    background = [asyncio.create_task(s.loop()) for s in senders]
    background.append(asyncio.create_task(_lag_probe(run.loop_lag_s)))
    try:
        mine: list[Sender | None] = list(senders) if send_events else [None] * len(copies)
        pairs = zip(copies, mine, strict=True)
        await asyncio.gather(*(_student(c, s, course, path, start, end, run) for c, s in pairs))
        # what the students did last is still queued or on its way
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.idle.wait() for s in senders)), DRAIN)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        client.close()
    run.tail_cpu_s = sum(c.tail_cpu_s for c in copies)
    return run


# --------------------------------------------------------------------------- throughput


def ingest_bodies(
    copies: list[StudentCopy], course: str, path: str, per_post: int, variants: int = 5
) -> dict[str, list[bytes]]:
    """Per student, a few ready-made POST bodies of `per_post` events in the class's mix:
    one event in five a save (with a fresh sha256 and the student's tail), the others
    cell runs, one in ten an error; counted across the bodies, so that single-event POSTs
    have the same mix. Built before the clock, so the driver spends its CPU on requests,
    not on JSON."""
    bodies: dict[str, list[bytes]] = {}
    for c in copies:
        out = []
        k = 0
        for _ in range(variants):
            batch = []
            for _ in range(per_post):
                if k % 5 == 4:
                    data = {"sha256": secrets.token_hex(32)}
                    batch.append(event("notebook_saved", course, path, data, tail=tail_of(c.nb)))
                else:
                    batch.append(event("cell_executed", course, path, c.run_cell()))
                k += 1
            out.append(json.dumps(batch).encode())
        bodies[c.user] = out
    return bodies


@dataclass
class IngestRun:
    posts: int = 0
    accepted_events: int = 0  # events in POSTs answered 201
    statuses: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    done_at: list[tuple[float, int]] = field(default_factory=list)  # (s since start, events)
    post_s: list[float] = field(default_factory=list)

    def per_second(self) -> list[int]:
        """Accepted events in each whole second of the run (the last, partial one left out)."""
        full = int(self.wall_s)
        buckets = [0] * full
        for at, n in self.done_at:
            if int(at) < full:
                buckets[int(at)] += n
        return buckets


async def ingest(
    bodies: dict[str, list[bytes]],
    tokens: dict[str, str],
    url: str,
    seconds: float,
    concurrency: int,
    per_post: int,
) -> IngestRun:
    """Every student posts its batches back to back for `seconds`, at most `concurrency`
    POSTs in flight in all (students queue for a slot, in turn)."""
    loop = asyncio.get_running_loop()
    run = IngestRun()
    slots = asyncio.Semaphore(concurrency)
    client = poster(concurrency)
    start = loop.time()
    end = start + seconds

    async def student(user: str) -> None:
        headers = {**JSON, "Authorization": f"token {tokens[user]}"}
        mine = bodies[user]
        i = 0
        while loop.time() < end:
            async with slots:
                if loop.time() >= end:
                    return
                sent = loop.time()
                status = await post(client, url, mine[i % len(mine)], headers)
                run.statuses[status] += 1
                if status == "201":
                    run.accepted_events += per_post
                    run.done_at.append((loop.time() - start, per_post))
                run.post_s.append(loop.time() - sent)
                run.posts += 1
            i += 1

    try:
        await asyncio.gather(*(student(u) for u in bodies))
    finally:
        client.close()
    run.wall_s = loop.time() - start
    return run
