"""Fixtures every test folder may use: coursehub databases (SQLite, and PostgreSQL
where the test runs on both), and a course store on a real git repository.

`db` and `db_url`: SQLite in the test's tmp_path. `any_db` and `any_db_url`: the same
test once on SQLite and once on PostgreSQL (127.0.0.1:5432); the PostgreSQL run is
skipped, with the reason, when no server answers. The `_url` fixtures are empty
databases (no tables yet); the others have the schema made.

Order: `./dev test` hands whole files to two workers in the order collected, so the
longest files go first (SLOWEST_FILES, then every other file of real hubs and servers,
then the rest): the last files handed out are short ones and both workers end together.

Course builds run as a build account, one build at a time per account on the whole
machine; each worker gets an account of its own (COURSEHUB_BUILD_USER), so that a build
on one worker does not wait for one on the other."""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.store import CourseStore
from coursehub.db.session import Database
from tests.helpers.coursedb import opened_database, sqlite_url
from tests.helpers.gitrepo import commit_all
from tests.helpers.postgres import throwaway_database

# The longest files, longest first (`--durations` of a full run, the setup included).
SLOWEST_FILES = [
    "tests/integration/courses/test_course_kernels.py",
    "tests/integration/ops/test_backup_roundtrip.py",
    "tests/integration/ops/test_culling_hub.py",
    "tests/integration/courses/test_lab_plugin_browser.py",
    "tests/integration/grading/test_grading_walk_browser.py",
    "tests/integration/grading/test_manual_grading_e2e.py",
    "tests/integration/grading/test_assignment_corrections_browser.py",
    "tests/security/test_root_paths.py",
    "tests/integration/courses/test_lab_extensions_browser.py",
    "tests/integration/courses/test_repo_formats_hub.py",
    "tests/integration/grading/test_submission_burst.py",
    "tests/integration/grading/test_grading_e2e.py",
]


def _file_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    if path in SLOWEST_FILES:
        return SLOWEST_FILES.index(path)
    return len(SLOWEST_FILES) + (0 if "integration" in item.keywords else 1)


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and "COURSEHUB_BUILD_USER" not in os.environ:
        os.environ["COURSEHUB_BUILD_USER"] = f"coursehub-build-{worker}"


def pytest_unconfigure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    account = os.environ.get("COURSEHUB_BUILD_USER")
    if worker and account == f"coursehub-build-{worker}" and os.geteuid() == 0:
        try:
            pwd.getpwnam(account)
        except KeyError:
            return
        subprocess.run(["userdel", account], capture_output=True, check=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # stable: a file's tests stay together and in their order
    items.sort(key=_file_rank)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from throwaway_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        yield from throwaway_database()
    else:
        yield sqlite_url(tmp_path)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    with opened_database(db_url) as database:
        yield database


@pytest.fixture
def any_db(any_db_url: str) -> Iterator[Database]:
    with opened_database(any_db_url) as database:
        yield database


@pytest.fixture(scope="module")
def course_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course's git repository, one commit of a README (shared by the module)."""
    repo = tmp_path_factory.mktemp("course") / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("# Physics\n")
    commit_all(repo, "first")
    return repo


@pytest.fixture
def course_store(db: Database, tmp_path: Path) -> CourseStore:
    """Courses on `db`, their files under tmp_path/data."""
    return CourseStore(db, DataLayout(tmp_path / "data"))
