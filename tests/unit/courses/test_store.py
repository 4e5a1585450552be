"""CourseStore with real git repositories and real databases: SQLite always,
PostgreSQL when reachable."""

from __future__ import annotations

import shutil
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from coursehub.config.layout import DataLayout
from coursehub.courses import git
from coursehub.courses.store import CourseError, CourseStore, Enrolment, PullResult
from coursehub.db.models import utcnow
from coursehub.db.session import Database, alembic_config, ensure_schema
from tests.helpers.gitrepo import run_git


def commit(repo: Path, files: dict[str, str]) -> str:
    for name, content in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(content)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "change")
    return run_git(repo, "rev-parse", "HEAD")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    repo = tmp_path / "source"
    repo.mkdir()
    run_git(repo, "init", "-q", "-b", "main")
    commit(repo, {"README.md": "# Physics\n", "notebooks/01.ipynb": "{}\n"})
    return repo


@pytest.fixture
def store(any_db: Database, tmp_path: Path) -> CourseStore:
    return CourseStore(any_db, DataLayout(tmp_path / "data"))


def count(any_db: Database, table: str) -> int:
    with any_db.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM coursehub_{table}")).scalar_one()


# --- adding ------------------------------------------------------------------------


def test_add_clones_and_records_the_course(store: CourseStore, source: Path):
    info = store.add("physics", str(source))
    head = run_git(source, "rev-parse", "HEAD")
    assert (info.name, info.branch, info.current_commit, info.archived) == (
        "physics", "main", head, False,
    )  # fmt: skip
    assert info.repo_url == str(source) and info.last_pull_ok is True and info.members == 0
    assert store.get("physics") == info
    repo = store.layout.course_repo("physics")
    assert (repo / "notebooks" / "01.ipynb").read_text() == "{}\n"
    for folder in (store.layout.courses, store.layout.course_dir("physics"), repo):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE((repo / "README.md").stat().st_mode) == 0o644


def test_add_refuses_existing_names_and_leftover_directories(store: CourseStore, source: Path):
    store.add("physics", str(source))
    with pytest.raises(CourseError, match="'physics' already exists"):
        store.add("physics", str(source))
    store.remove("physics", delete_files=False)
    with pytest.raises(CourseError, match="already exists but no course 'physics'"):
        store.add("physics", str(source))
    assert count(store.db, "courses") == 0


@pytest.mark.parametrize("name", ["Physics", "1physics", "a/b", "../x", ".x", "", "p" * 41])
def test_add_refuses_bad_names(store: CourseStore, source: Path, name: str):
    with pytest.raises(CourseError, match="is not valid"):
        store.add(name, str(source))


@pytest.mark.parametrize(
    ("repo", "branch", "message"),
    [
        (None, "nope", "not found"),
        ("-oProxyCommand=x", None, "as an option"),
        ("ext::sh -c x", None, "runs commands"),
        ("/no/such/repo", None, "no such directory"),
    ],
)
def test_a_failed_add_leaves_no_directory_and_no_row(
    store: CourseStore, source: Path, repo: str | None, branch: str | None, message: str
):
    with pytest.raises(CourseError, match=message):
        store.add("physics", repo or str(source), branch)
    assert count(store.db, "courses") == 0
    assert not store.layout.course_dir("physics").exists()
    assert not store.layout.courses.exists() or list(store.layout.courses.iterdir()) == []


# --- pulling -----------------------------------------------------------------------


def test_pull_updates_files_and_records_the_outcome(store: CourseStore, source: Path):
    first = store.add("physics", str(source)).current_commit
    second = commit(source, {"notebooks/02.ipynb": "{}\n"})
    result = store.pull("physics")
    assert result.ok and result.changed and (result.old_commit, result.new_commit) == (
        first, second,
    )  # fmt: skip
    info = store.get("physics")
    assert info is not None and info.current_commit == second and info.last_pull_ok
    assert info.last_pull_output == result.output and "main" in result.output
    assert (store.layout.course_repo("physics") / "notebooks" / "02.ipynb").exists()


def test_a_failed_pull_is_recorded(store: CourseStore, source: Path):
    first = store.add("physics", str(source)).current_commit
    shutil.rmtree(source)
    result = store.pull("physics")
    assert not result.ok
    info = store.get("physics")
    assert info is not None and info.last_pull_ok is False and info.current_commit == first
    assert "does not appear to be a git repository" in info.last_pull_output


def test_pull_output_is_stored_up_to_64_kb(
    store: CourseStore, source: Path, monkeypatch: pytest.MonkeyPatch
):
    head = store.add("physics", str(source)).current_commit
    huge = git.bounded("é" * 100_000 + "END")
    monkeypatch.setattr(git, "pull", lambda repo, branch, log: PullResult(True, huge, head, head))
    store.pull("physics")
    info = store.get("physics")
    assert info is not None and info.last_pull_output == huge
    assert len(huge.encode()) <= 64 * 1024 and huge.endswith("END")


def test_concurrent_pulls_take_turns(store: CourseStore, source: Path):
    store.add("physics", str(source))
    head = commit(source, {"new.md": "x\n"})
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: store.pull("physics"), range(4)))
    assert all(r.ok for r in results), [r.output for r in results]
    assert {r.new_commit for r in results} == {head}


def test_archived_courses_are_not_pulled_or_due(store: CourseStore, source: Path):
    store.add("physics", str(source))
    store.add("chemistry", str(source))
    later = utcnow() + timedelta(hours=1)
    assert store.due_for_autopull(later, timedelta(minutes=30)) == ["chemistry", "physics"]
    assert store.due_for_autopull(utcnow(), timedelta(minutes=30)) == []
    store.archive("physics")
    with pytest.raises(CourseError, match="'physics' is archived; unarchive it"):
        store.pull("physics")
    assert store.due_for_autopull(later, timedelta(minutes=30)) == ["chemistry"]
    assert [c.name for c in store.list(include_archived=False)] == ["chemistry"]
    assert [c.name for c in store.list()] == ["chemistry", "physics"]
    store.unarchive("physics")
    assert store.pull("physics").ok


# --- removing ----------------------------------------------------------------------


def test_remove_deletes_files_and_enrolments(store: CourseStore, source: Path):
    store.add("physics", str(source))
    store.enrol_many("physics", ["ann", "bob"])
    store.remove("physics")
    assert store.get("physics") is None and count(store.db, "enrolments") == 0
    assert list(store.layout.courses.iterdir()) == []
    with pytest.raises(CourseError, match="no course named 'physics'"):
        store.remove("physics")
    store.add("physics", str(source))  # the name is free again
    assert store.members("physics") == []


# --- enrolments --------------------------------------------------------------------


def test_the_same_student_enrolled_at_once_from_many_places_gets_one_enrolment(
    store: CourseStore, source: Path
):
    """Two tabs launching the same LMS activity at the same moment: both land."""
    from concurrent.futures import ThreadPoolExecutor

    store.add("physics", str(source))
    for round_ in range(5):
        user = f"twin{round_}"
        start = threading.Barrier(8)

        def enrol(_: int, user: str = user, start: threading.Barrier = start) -> str:
            start.wait()
            return store.enrol("physics", user).username

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(enrol, range(8))) == [user] * 8
        assert [e.username for e in store.members("physics")].count(user) == 1


def test_enrol_unenrol_members_and_courses_of(store: CourseStore, source: Path):
    store.add("physics", str(source))
    store.add("chemistry", str(source))
    store.enrol_many("physics", ["bob", "ann"], "student")
    store.enrol("physics", "tess", "ta")
    store.enrol("physics", "ivy", "instructor")
    store.enrol("chemistry", "ann", "ta")
    assert [(m.username, m.role) for m in store.members("physics")] == [
        ("ivy", "instructor"), ("tess", "ta"), ("ann", "student"), ("bob", "student"),
    ]  # fmt: skip
    assert [m.username for m in store.members("physics", role="student")] == ["ann", "bob"]
    assert store.courses_of("ann") == [
        Enrolment("chemistry", "ann", "ta"),
        Enrolment("physics", "ann", "student"),
    ]
    assert [c.members for c in store.list()] == [1, 4]
    store.enrol("physics", "bob", "ta")  # a second enrolment changes the role
    assert store.courses_of("bob") == [Enrolment("physics", "bob", "ta")]
    store.unenrol("physics", "bob")
    assert store.courses_of("bob") == []
    with pytest.raises(CourseError, match="'bob' is not enrolled in course 'physics'"):
        store.unenrol("physics", "bob")


def test_enrol_checks_everything_first(store: CourseStore, source: Path):
    store.add("physics", str(source))
    with pytest.raises(CourseError, match="'Bad' has capital letters"):
        store.enrol_many("physics", ["ann", "Bad"])
    with pytest.raises(CourseError, match="course role 'admin'"):
        store.enrol("physics", "ann", "admin")
    with pytest.raises(CourseError, match="no course named 'biology'"):
        store.enrol("biology", "ann")
    assert count(store.db, "enrolments") == 0


# --- schema ------------------------------------------------------------------------


def test_migration_0002_keeps_accounts_of_a_0001_database(any_db_url: str):
    cfg = alembic_config(any_db_url)
    command.upgrade(cfg, "0001")
    db = Database(any_db_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO coursehub_accounts (username, full_name, email, role, "
                    "created_at, updated_at) VALUES ('ann', 'Ann', '', 'student', "
                    ":now, :now)"
                ),
                {"now": utcnow()},
            )
        ensure_schema(any_db_url)
        assert count(db, "accounts") == 1 and count(db, "courses") == 0
        with db.engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM coursehub_alembic_version"))
            assert version.scalar_one() == ScriptDirectory.from_config(cfg).get_current_head()
    finally:
        db.dispose()


def test_staff_listed_in_the_manifest_are_enrolled_on_add_and_pull(
    store: CourseStore, source: Path
) -> None:
    commit(source, {"course.yaml": "staff:\n  instructors: [prof]\n  tas: [tina]\n"})
    store.add("physics", str(source))
    store.enrol("physics", "alice")
    roles = {e.username: e.role for e in store.members("physics")}
    assert roles == {"prof": "instructor", "tina": "ta", "alice": "student"}
    # a TA added later in the repository is enrolled by the next pull; nobody is removed
    commit(source, {"course.yaml": "staff:\n  instructors: [prof]\n  tas: [tina, tom]\n"})
    assert store.pull("physics").ok
    roles = {e.username: e.role for e in store.members("physics")}
    assert roles == {"prof": "instructor", "tina": "ta", "tom": "ta", "alice": "student"}
    # a broken manifest enrols nobody and does not break the pull
    commit(source, {"course.yaml": "staff: [oops\n"})
    assert store.pull("physics").ok
    assert len(store.members("physics")) == 4


def test_adding_a_course_makes_a_private_data_dir_passable(store: CourseStore, source: Path):
    """Made 0700 by an earlier command, the data dir would keep students and the build
    account away from the course files below it."""
    store.layout.root.mkdir(mode=0o700)
    store.add("physics", str(source))
    assert store.layout.root.stat().st_mode & 0o777 == 0o711
