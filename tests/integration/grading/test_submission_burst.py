"""A whole class submitting at the deadline: 200 submissions within a minute, with
double submits (the same Idempotency-Key twice, or the same work twice without a key,
as a double click sends it), are each stored exactly once, with attempt numbers
1, 2, 3... per student and no gaps.

Checked twice: on the store itself with many threads, against SQLite (the embedded
default) and PostgreSQL; and through a real hub's service over HTTP, where students'
tokens say who submits."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import nbformat
import pytest

from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from tests.helpers import hubproc
from tests.helpers.assignments import nbgrader_source
from tests.helpers.browserless import login
from tests.helpers.coursedb import open_database, sqlite_url
from tests.helpers.grading_site import grading_site
from tests.integration.conftest import Cleanup

pytestmark = pytest.mark.integration

STUDENTS = [f"s{i:02d}" for i in range(10)]
PER_STUDENT = 20  # 10 x 20 = 200 distinct submissions
KEYED_TWICE = 40  # of which this many are sent twice with the same Idempotency-Key
UNKEYED_TWICE = 20  # and this many twice without a key, at the same moment


def _work(student: str, n: int) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(f"answer = {n}  # {student}", id="answer"))
    return nbformat.writes(nb).encode()


def _plan() -> list[tuple[str, int, str | None, int]]:
    """(student, n, key, copies) for every distinct submission."""
    plan = []
    for index in range(len(STUDENTS) * PER_STUDENT):
        student, n = STUDENTS[index % len(STUDENTS)], index // len(STUDENTS)
        if index < KEYED_TWICE:
            plan.append((student, n, f"{student}-{n}-{secrets.token_hex(4)}", 2))
        elif index < KEYED_TWICE + UNKEYED_TWICE:
            plan.append((student, n, None, 2))
        else:
            key = f"{student}-{n}-{secrets.token_hex(4)}" if index % 2 else None
            plan.append((student, n, key, 1))
    return plan


def _check_exactly_once(
    attempts: dict[str, list[tuple[int, int]]], answers: list[tuple[int, bool, str, int]]
) -> None:
    """`attempts`: per student, (id, attempt) as stored; `answers`: (id, duplicate,
    student, n) per request sent."""
    assert sum(len(v) for v in attempts.values()) == len(STUDENTS) * PER_STUDENT
    for student, rows in attempts.items():
        numbers = sorted(a for _, a in rows)
        assert numbers == list(range(1, PER_STUDENT + 1)), (student, numbers)
    copies = Counter((student, n) for _, _, student, n in answers)
    by_work: dict[tuple[str, int], set[int]] = {}
    for sid, _duplicate, student, n in answers:
        by_work.setdefault((student, n), set()).add(sid)
    # every request for the same work got the same stored submission...
    assert all(len(ids) == 1 for ids in by_work.values()), by_work
    # ...and exactly one request per work was the one that stored it
    stored = Counter((student, n) for _, duplicate, student, n in answers if not duplicate)
    assert set(stored.values()) == {1} and len(stored) == len(copies)
    assert sum(copies.values()) == len(STUDENTS) * PER_STUDENT + KEYED_TWICE + UNKEYED_TWICE


def _store_burst(url: str, root: Path) -> None:
    store = GradingStore(open_database(url), GradingPaths(root))
    questions = [{"name": "q1", "points": 1, "kind": "auto", "notebook": "ps1.ipynb"}]
    assignment = store.save_assignment("c", "ps1", "nbgrader", questions, ["ps1.ipynb"])
    start = threading.Barrier(16)
    answers: list[tuple[int, bool, str, int]] = []
    lock = threading.Lock()

    def send(student: str, n: int, key: str | None) -> None:
        stored = store.submit(assignment, student, {"ps1.ipynb": _work(student, n)}, "upload", key)
        with lock:
            answers.append((stored.submission.id, stored.duplicate, student, n))

    requests: list[Callable[[], None]] = []
    for student, n, key, copies in _plan():
        requests += [lambda s=student, n=n, k=key: send(s, n, k)] * copies

    def run(chunk: list[Callable[[], None]]) -> None:
        start.wait()
        for request in chunk:
            request()

    # twins sit next to each other: round-robin chunks put them in different threads
    chunks = [requests[i::16] for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(run, chunks))
    attempts: dict[str, list[tuple[int, int]]] = {}
    for row in store.submissions(assignment.id):
        attempts.setdefault(row.username, []).append((row.id, row.attempt))
        folder = store.submission_files(row)
        assert (folder / "ps1.ipynb").read_bytes() == _work(row.username, _n_of(folder))
    _check_exactly_once(attempts, answers)


def _n_of(folder: Path) -> int:
    source = nbformat.reads((folder / "ps1.ipynb").read_text(), 4).cells[0].source
    return int(source.split("=")[1].split("#")[0])


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(f"/srv/coursehub-test-burst-{secrets.token_hex(4)}")
    path.mkdir(mode=0o711, parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_store_keeps_each_of_200_racing_submissions_once_sqlite(root: Path) -> None:
    _store_burst(sqlite_url(root), root)


def test_store_keeps_each_of_200_racing_submissions_once_postgresql(
    root: Path, postgres_url: str
) -> None:
    _store_burst(postgres_url, root)


# ---- through a real hub ------------------------------------------------------------

USERS = {name: f"{name}-pass-{i:03d}" for i, name in enumerate(STUDENTS)} | {
    "tina": "tina-pass-789"
}
API = "/services/coursehub/api/courses/burst/assignments"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, cleanup: Cleanup) -> Iterator[hubproc.RunningHub]:
    sources = tmp_path_factory.mktemp("sources")
    # one grader: the queue fills while the class submits, as on a deadline night
    extra = "grading:\n  parallel: 1\n"
    staff = {"tina": "instructor"}
    with grading_site(
        "burst-site", "burst", USERS, staff, extra_yaml=extra, later=cleanup.later
    ) as site:
        for args in (
            ("assignment", "create", "burst", "ps1", "--from",
             str(nbgrader_source(sources / "ps1"))),
            ("assignment", "release", "burst", "ps1"),
        ):  # fmt: skip
            done = site.cli(*args)
            assert done.returncode == 0, done.stdout + done.stderr
        yield site


@pytest.mark.root
def test_200_submissions_within_a_minute_through_the_service(hub: hubproc.RunningHub) -> None:
    tokens = {}
    for student in STUDENTS:
        login(hub.url, student, USERS[student])
        tokens[student] = hub.user_token(student)

    async def send_all() -> list[tuple[int, bool, str, int]]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=hub.url, timeout=120, limits=limits) as client:

            async def send(student: str, n: int, key: str | None) -> tuple[int, bool, str, int]:
                headers = {"Authorization": f"token {tokens[student]}"}
                if key is not None:
                    headers["Idempotency-Key"] = key
                files = {"files": ("ps1.ipynb", _work(student, n), "application/json")}
                got = await client.post(f"{API}/ps1/submit", headers=headers, files=files)
                assert got.status_code in (200, 201), got.text
                body = got.json()
                assert (got.status_code == 200) == body["duplicate"]
                return body["id"], body["duplicate"], student, n

            jobs = []
            for student, n, key, copies in _plan():
                jobs += [send(student, n, key) for _ in range(copies)]
            return list(await asyncio.gather(*jobs))

    started = time.monotonic()
    answers = asyncio.run(send_all())
    elapsed = time.monotonic() - started
    print(f"{len(answers)} requests ({len(STUDENTS) * PER_STUDENT} submissions) in {elapsed:.1f} s")

    attempts: dict[str, list[tuple[int, int]]] = {}
    for student in STUDENTS:
        headers = {"Authorization": f"token {tokens[student]}"}
        mine = httpx.get(f"{hub.url}{API}/ps1/submissions", headers=headers).json()
        assert mine["username"] == student
        attempts[student] = [(a["id"], a["attempt"]) for a in mine["attempts"]]
    _check_exactly_once(attempts, answers)
    # the staff gradebook sees every student's latest attempt, queued for grading
    staff = {"Authorization": f"token {_staff_token(hub)}"}
    book = httpx.get(f"{hub.url}{API}/ps1/gradebook", headers=staff).json()
    latest = {r["username"]: r["attempt"] for r in book["rows"]}
    assert latest == dict.fromkeys(STUDENTS, PER_STUDENT)


def _staff_token(hub: hubproc.RunningHub) -> str:
    login(hub.url, "tina", USERS["tina"])
    return hub.user_token("tina")
