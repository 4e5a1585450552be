"""`coursehub course ...` run as an administrator would, with real git repositories."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers.gitrepo import run_git

# Demo mode: these commands make no Unix accounts on the machine running the tests.
NO_ACCOUNTS_SITE = "site:\n  data_dir: ./data\nspawn:\n  backend: demo\n"


def commit(repo: Path, name: str, content: str) -> str:
    (repo / name).write_text(content)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", f"add {name}")
    return run_git(repo, "rev-parse", "HEAD")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(NO_ACCOUNTS_SITE)
    source = tmp_path / "physics-src"
    source.mkdir()
    run_git(source, "init", "-q", "-b", "main")
    commit(source, "README.md", "# Physics\n")
    return tmp_path


def course(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coursehub.cli", "--config", str(site / "coursehub.yaml"),
         "course", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def failed(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr and "Error" in result.stderr
    return result.stderr


def test_add_pull_list_show(site: Path):
    source = site / "physics-src"
    first = run_git(source, "rev-parse", "HEAD")
    added = ok(course(site, "add", "physics", "--repo", str(source)))
    assert "Added course physics" in added and first[:10] in added
    assert (site / "data" / "courses" / "physics" / "repo" / "README.md").exists()

    second = commit(source, "lesson2.ipynb", "{}\n")
    pulled = ok(course(site, "pull", "physics"))
    assert f"{first[:10]} -> {second[:10]}" in pulled
    assert f"{first[:7]}..{second[:7]}" in pulled  # git's own output
    assert "already at" in ok(course(site, "pull", "--all"))

    ok(course(site, "enrol", "physics", "ann", "bob", "--role", "student"))
    ok(course(site, "enrol", "physics", "ivy", "--role", "instructor"))
    listed = ok(course(site, "list"))
    assert "physics" in listed and second[:10] in listed and "main" in listed
    assert "│ 3 " in listed and "1 course(s)" in listed
    shown = ok(course(site, "show", "physics"))
    assert "instructors: ivy" in shown and "students:    ann, bob" in shown
    assert second in shown


def test_archive_remove_and_enrolments(site: Path):
    ok(course(site, "add", "physics", "--repo", str(site / "physics-src")))
    ok(course(site, "archive", "physics"))
    assert "archived; unarchive it" in failed(course(site, "pull", "physics"))
    assert "No active courses" in ok(course(site, "pull", "--all"))
    assert " yes " in ok(course(site, "list"))
    ok(course(site, "unarchive", "physics"))
    ok(course(site, "pull", "physics"))

    ok(course(site, "enrol", "physics", "ann"))
    assert "no longer in physics" in ok(course(site, "unenrol", "physics", "ann"))
    assert "not enrolled" in failed(course(site, "unenrol", "physics", "ann"))
    assert "capital letters" in failed(course(site, "enrol", "physics", "Ann"))

    assert "--yes" in failed(course(site, "remove", "physics"))
    assert (site / "data" / "courses" / "physics").exists()
    ok(course(site, "remove", "physics", "--yes"))
    assert not (site / "data" / "courses" / "physics").exists()
    assert "0 course(s)" in ok(course(site, "list"))
    assert "no course named 'physics'" in failed(course(site, "show", "physics"))


def test_bad_repositories_are_refused_cleanly(site: Path):
    for repo, message in [
        ("--repo=-oProxyCommand=x", "as an option"),
        ("--repo=ext::sh -c x", "runs commands"),
        ("--repo=/no/such/repo", "no such directory"),
        ("--repo=https://user:s3cret@127.0.0.1:1/x.git", "could not clone"),
    ]:
        err = failed(course(site, "add", "physics", repo))
        assert message in err and "s3cret" not in err
    assert not (site / "data" / "courses" / "physics").exists()
    assert "0 course(s)" in ok(course(site, "list"))
    err = failed(
        course(site, "add", "physics", "--repo", str(site / "physics-src"), "--branch", "x")
    )
    assert "Remote branch x not found" in err


def test_roster_courses_column_enrols_and_reports_unknown_courses(site: Path):
    ok(course(site, "add", "physics", "--repo", str(site / "physics-src")))
    roster = site / "roster.csv"
    roster.write_text(
        "username,role,password,courses\n"
        "ann,student,long-enough-1,physics\n"
        "ivy,instructor,long-enough-2,physics:instructor chem:ta\n"
    )
    cfg = str(site / "coursehub.yaml")
    imported = subprocess.run(
        [sys.executable, "-m", "coursehub.cli", "--config", cfg, "users", "import", str(roster)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = ok(imported)
    assert "2 course enrolment(s)" in out
    assert "chem (line 3)" in out and "coursehub course add" in out
    shown = ok(course(site, "show", "physics"))
    assert "instructors: ivy" in shown and "students:    ann" in shown

    # A bad course entry is a roster error naming the line; nothing is imported.
    roster.write_text("username,password,courses\nzed,long-enough-3,physics:boss\n")
    bad = subprocess.run(
        [sys.executable, "-m", "coursehub.cli", "--config", cfg, "users", "import", str(roster)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "roster.csv:2" in bad.stderr and "unknown role" in bad.stderr
    assert "zed" not in ok(course(site, "show", "physics"))


def test_warm_plans_shows_and_cancels_without_a_running_hub(site: Path):
    source = site / "physics-src"
    commit(
        source,
        "course.yaml",
        "lectures:\n  zone: Europe/Paris\n  weekly: [Mon 09:00]\n",
    )
    ok(course(site, "add", "physics", "--repo", str(source)))
    shown = ok(course(site, "show", "physics"))
    assert re.search(r"lectures: +next .*\(09:00 CES?T, Europe/Paris\) \(warmed before it\)", shown)
    far = failed(course(site, "warm", "physics", "--at", "2099-01-01 09:00 Europe/Paris"))
    assert "more than a year away" in far
    when = (datetime.now(UTC) + timedelta(days=30)).replace(hour=9, minute=0, second=0)
    soon = ok(course(site, "warm", "physics", "--at", when.strftime("%Y-%m-%dT%H:%MZ")))
    assert "warming begins" in soon and f"{when:%Y-%m-%d} 08:45 UTC" in soon
    status = ok(course(site, "warm", "physics", "--status"))
    assert "Who can be warmed: unknown (no running hub" in status
    assert "[command] scheduled" in status and f"begins {when:%Y-%m-%d} 08:45 UTC" in status
    assert "will not run" in ok(course(site, "warm", "physics", "--cancel"))
    assert "cancelled" in ok(course(site, "warm", "physics", "--status"))
    # what cannot be done says why, with exit status 1 (no hub) or 2 (what was asked)
    now = course(site, "warm", "physics")
    assert now.returncode == 1 and "no running hub" in now.stderr
    wrong = course(site, "warm", "nope")
    assert wrong.returncode == 2 and "no course named 'nope'" in wrong.stderr
    bad = course(site, "warm", "physics", "--at", "tomorrow")
    assert bad.returncode == 2 and "--at: 'tomorrow' is not a date and time" in bad.stderr
    past = course(site, "warm", "physics", "--at", "2020-01-01T09:00Z")
    assert past.returncode == 2 and "in the past" in past.stderr
