"""`coursehub assignment ...` corrections run as an instructor on the hub machine would:
names and titles checked for length, edit (title and due date alone), unrelease, and
delete (refused with submissions unless asked again, a backup file kept first)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import nbformat
import pytest

from coursehub.config.layout import DataLayout
from coursehub.db.session import Database
from coursehub.grading.paths import GradingPaths
from coursehub.grading.store import GradingStore
from tests.helpers.assignments import nbgrader_source
from tests.helpers.gitrepo import make_repo

# Demo mode: these commands make no Unix accounts on the machine running the tests.
NO_ACCOUNTS_SITE = "site:\n  data_dir: ./data\nspawn:\n  backend: demo\n"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "coursehub.yaml").write_text(NO_ACCOUNTS_SITE)
    notebook = nbformat.writes(nbformat.v4.new_notebook())
    repo = make_repo(tmp_path / "repo", {"intro.ipynb": notebook})
    ok(cli(tmp_path, "course", "add", "algebra", "--repo", str(repo)))
    ok(cli(tmp_path, "course", "enrol", "algebra", "sam"))
    nbgrader_source(tmp_path / "src")
    return tmp_path


def cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coursehub.cli", "--config", str(site / "coursehub.yaml"), *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def failed(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())  # the console wraps long lines


def _store(site: Path) -> GradingStore:
    data = DataLayout(site / "data")
    return GradingStore(Database(f"sqlite:///{data.coursehub_db_file}"), GradingPaths(data.root))


def test_names_and_titles_are_checked_for_length(site: Path) -> None:
    src = str(site / "src")
    long_name = failed(cli(site, "assignment", "create", "algebra", "p" * 65, "--from", src))
    assert "65 characters long; it may have at most 64" in long_name
    title = "Squares and square roots, " * 6 + "week 3"
    long_title = failed(
        cli(site, "assignment", "create", "algebra", "ps1", "--from", src, "--title", title)
    )
    assert "162 characters long; it may have at most 120" in long_title
    plain = site / "plain"
    plain.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), plain / "plain.ipynb")
    unmarked = failed(cli(site, "assignment", "create", "algebra", "ps1", "--from", str(plain)))
    assert "has no grading marks" in unmarked and "--format" in unmarked  # fine on a terminal
    assert "ps1" not in ok(cli(site, "assignment", "list", "algebra"))  # nothing half made


def test_edit_unrelease_and_delete(site: Path) -> None:
    src = str(site / "src")
    ok(cli(site, "assignment", "create", "algebra", "ps1", "--from", src, "--title", "Squares"))
    ok(cli(site, "assignment", "release", "algebra", "ps1"))
    store = _store(site)
    before = store.get("algebra", "ps1")
    answer = (site / "src" / "ps1.ipynb").read_bytes()
    store.submit(before, "sam", {"ps1.ipynb": answer}, origin="upload")

    said = ok(cli(site, "assignment", "edit", "algebra", "ps1", "--due", "2031-05-01T12:00+02:00"))
    assert "due 2031-05-01 10:00 UTC" in said
    after = store.get("algebra", "ps1")
    assert (after.title, after.questions, after.files, after.released_at) == (
        before.title, before.questions, before.files, before.released_at,
    )  # fmt: skip
    ok(cli(site, "assignment", "set", "algebra", "ps1", "--title", "Squares, corrected"))
    assert store.get("algebra", "ps1").title == "Squares, corrected"
    assert "at most 120" in failed(cli(site, "assignment", "edit", "algebra", "ps1",
                                       "--title", "x" * 121))  # fmt: skip
    assert "nothing to change" in failed(cli(site, "assignment", "edit", "algebra", "ps1"))
    ok(cli(site, "assignment", "edit", "algebra", "ps1", "--no-due"))
    assert store.get("algebra", "ps1").due_at is None

    told = ok(cli(site, "assignment", "unrelease", "algebra", "ps1"))
    assert "Copies they already got stay in their workspaces" in " ".join(told.split())
    assert store.get("algebra", "ps1").released_at is None
    assert not (site / "data" / "released" / "algebra" / "ps1").exists()

    refused = failed(cli(site, "assignment", "delete", "algebra", "ps1"))
    assert "1 submission(s) from 1 student(s), so it was not deleted" in refused
    assert "--with-submissions" in refused
    assert store.get("algebra", "ps1").id == before.id
    deleted = " ".join(
        ok(cli(site, "assignment", "delete", "algebra", "ps1", "--with-submissions")).split()
    )
    assert "Deleted ps1 (1 submission(s))" in deleted
    backup = next((site / "data" / "backups" / "deleted-assignments").glob("algebra-ps1-*.tar.gz"))
    assert backup.name in deleted.replace(" ", "")  # named (the console may wrap it)
    with tarfile.open(backup) as tar:
        assert any(n.startswith("files/submissions/sam/") for n in tar.getnames())
    assert "ps1" not in ok(cli(site, "assignment", "list", "algebra"))
