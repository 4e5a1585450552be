"""The command line: init, config check/show and users, run as a user would."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.gitrepo import make_repo

# Demo mode: these commands make no Unix accounts on the machine running the tests.
DEMO = "spawn:\n  backend: demo\n"
NO_ACCOUNTS_SITE = "site:\n  data_dir: ./data\n" + DEMO


def coursehub(*args: str, cwd: Path | None = None, input: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "coursehub.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=input,
        timeout=120,
    )


def test_init_writes_a_valid_commented_config_demo_course_and_private_roster(
    tmp_path: Path,
) -> None:
    result = coursehub("init", str(tmp_path / "site"), "--port", "8765")
    assert result.returncode == 0, result.stderr
    site = tmp_path / "site"
    text = (site / "coursehub.yaml").read_text()
    assert "port: 8765" in text and "# " in text
    assert (site / "demo-course" / "basics" / "01-welcome.ipynb").exists()
    assert (site / "demo-course" / "course.yaml").exists()
    assert (site / "demo-course" / ".git").is_dir()
    for private in ("roster.csv", "demo-credentials.txt"):
        assert stat.S_IMODE((site / private).stat().st_mode) == 0o600
    # the passwords printed are the ones in the roster
    roster = (site / "roster.csv").read_text()
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(("teacher", "student")):
            assert parts[2] in roster
    check = coursehub("--config", str(site / "coursehub.yaml"), "config", "check")
    assert check.returncode == 0, check.stderr
    assert "is valid" in check.stdout


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    assert coursehub("init", str(tmp_path)).returncode == 0
    again = coursehub("init", str(tmp_path))
    assert again.returncode != 0
    assert "already exists" in again.stderr and "--force" in again.stderr


def test_config_check_reports_bad_lines_and_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text("site:\n  prot: 8000\nservers:\n  limits:\n    cpu: lots\n")
    result = coursehub("--config", str(cfg), "config", "check")
    assert result.returncode == 2
    assert f"{cfg}:2: site.prot" in result.stderr and "did you mean 'port'" in result.stderr
    assert f"{cfg}:5: servers.limits.cpu: 'lots'" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_fills_defaults_and_documents_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text("site:\n  name: Physics 101\n")
    shown = coursehub("--config", str(cfg), "config", "show")
    assert shown.returncode == 0
    assert "name: Physics 101" in shown.stdout and "start_timeout: 900" in shown.stdout
    hub = coursehub("--config", str(cfg), "config", "show", "--jupyterhub")
    assert "c.JupyterHub.cleanup_servers = False" in hub.stdout
    helped = coursehub("config", "show", "--help-all")
    assert "servers.concurrent_starts" in helped.stdout
    assert "wait in a queue" in helped.stdout


def test_users_import_is_all_or_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(NO_ACCOUNTS_SITE)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "username,full_name,role,password\n"
        "ann,Ann,student,long-enough-1\n"
        "Bob,Bob,student,long-enough-2\n"
        "cy,Cy,wizard,long-enough-3\n"
    )
    result = coursehub("--config", str(cfg), "users", "import", str(bad))
    assert result.returncode == 2
    assert "bad.csv:3" in result.stderr and "bad.csv:4" in result.stderr
    assert "nothing was imported" in result.stderr
    assert "long-enough" not in result.stderr  # passwords never echoed
    listed = coursehub("--config", str(cfg), "users", "list")
    assert "0 account(s)" in listed.stdout

    good = tmp_path / "good.txt"
    good.write_text("ann:long-enough-1\nbob:long-enough-2\n")
    assert coursehub("--config", str(cfg), "users", "import", str(good)).returncode == 0
    listed = coursehub("--config", str(cfg), "users", "list")
    assert "ann" in listed.stdout and "bob" in listed.stdout and "2 account(s)" in listed.stdout


def test_users_add_with_password_from_stdin_and_remove(tmp_path: Path) -> None:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(NO_ACCOUNTS_SITE)
    short = coursehub("--config", str(cfg), "users", "add", "dee", "--password-stdin", input="x\n")
    assert short.returncode != 0 and "at least 8" in short.stderr
    added = coursehub(
        "--config",
        str(cfg),
        "users",
        "add",
        "dee",
        "--role",
        "ta",
        "--password-stdin",
        input="a-good-password\n",
    )
    assert added.returncode == 0, added.stderr
    assert "a-good-password" not in added.stdout
    assert "ta" in coursehub("--config", str(cfg), "users", "list").stdout
    removed = coursehub("--config", str(cfg), "users", "remove", "dee")
    assert removed.returncode == 0 and "files are kept" in removed.stdout
    missing = coursehub("--config", str(cfg), "users", "remove", "dee")
    assert missing.returncode != 0


def test_users_link_and_unlink_sign_in_methods(tmp_path: Path) -> None:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(NO_ACCOUNTS_SITE)

    def users(*args: str) -> subprocess.CompletedProcess:
        return coursehub("--config", str(cfg), "users", *args, input="a-good-password\n")

    assert users("add", "prof", "--password-stdin").returncode == 0
    assert "local" in users("list").stdout
    linked = users("link", "prof", "github")
    assert linked.returncode == 0 and "prof now signs in with local, github" in linked.stdout
    assert "local, github" in users("list").stdout
    no_from = users("link", "prof", "lti")
    assert no_from.returncode != 0 and "--from ACCOUNT" in no_from.stderr
    not_lms = users("link", "prof", "lti", "--from", "prof")
    assert not_lms.returncode != 0 and "was not made by an LMS launch" in not_lms.stderr
    assert users("link", "nobody", "jwt").returncode != 0
    unlinked = users("unlink", "prof", "github")
    assert unlinked.returncode == 0 and "sign-in: local" in unlinked.stdout
    again = users("unlink", "prof", "github")
    assert again.returncode != 0 and "does not sign in with github" in again.stderr


def test_servers_command_without_a_running_hub_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(NO_ACCOUNTS_SITE)
    result = coursehub("--config", str(cfg), "servers", "list")
    assert result.returncode != 0
    assert "coursehub up" in result.stderr


def test_doctor_reports_a_taken_port_with_a_fix(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = tmp_path / "coursehub.yaml"
        cfg.write_text(f"site:\n  port: {port}\n  data_dir: ./data\n{DEMO}")
        result = coursehub("--config", str(cfg), "doctor")
    assert result.returncode == 1
    assert "in use by another program" in result.stdout
    assert "site.port" in result.stdout


def test_doctor_warns_when_grading_would_run_under_tmp(tmp_path: Path) -> None:
    # pytest's tmp_path lies under /tmp, which each grading sandbox replaces
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(NO_ACCOUNTS_SITE)
    result = coursehub("--config", str(cfg), "doctor")
    assert "grading" in result.stdout
    assert "autograding cannot run" in result.stdout
    assert "site.data_dir" in result.stdout


def test_the_sandbox_refuses_a_work_directory_it_would_hide(tmp_path: Path) -> None:
    from coursehub.grading.sandbox import SandboxError, hidden_in_sandbox, sandbox_account

    assert hidden_in_sandbox(tmp_path) == "/tmp"
    assert hidden_in_sandbox(Path("/srv/coursehub")) is None
    with pytest.raises(SandboxError, match="site.data_dir"), sandbox_account(tmp_path):
        pass


@pytest.mark.root
def test_imported_and_enrolled_people_get_unix_accounts_before_their_first_start(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to make Unix accounts")
    prefix = f"chu{secrets.token_hex(2)}-"
    homes = Path(f"/tmp/coursehub-test-homes-{secrets.token_hex(4)}")
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(
        "site:\n  data_dir: ./data\n"
        f"spawn:\n  local:\n    user_prefix: {prefix}\n    home_root: {homes}\n"
    )

    def cli(*args: str, input: str | None = None) -> str:
        done = coursehub("--config", str(cfg), *args, input=input)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        roster = tmp_path / "roster.txt"
        roster.write_text("ann:long-enough-1\nbob:long-enough-2\n")
        assert "2 Unix account(s) made" in cli("users", "import", str(roster))
        for name in ("ann", "bob"):
            entry = pwd.getpwnam(prefix + name)
            home = Path(entry.pw_dir)
            assert home.parent == homes and home.stat().st_uid == entry.pw_uid
            assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE(homes.stat().st_mode) == 0o711  # passable, not listable
        # again: nothing new to make
        assert "Unix account" not in cli("users", "import", str(roster))
        assert "1 Unix account(s) made" in cli(
            "users", "add", "cy", "--password-stdin", input="long-enough-3\n"
        )
        # someone whose account went missing gets it back when enrolled
        subprocess.run(["userdel", "--remove", prefix + "cy"], capture_output=True, check=False)
        repo = make_repo(tmp_path / "course", {"README.md": "# Algebra\n"})
        cli("course", "add", "algebra", "--repo", str(repo))
        assert "1 Unix account(s) made" in cli("course", "enrol", "algebra", "cy", "ann")
        assert pwd.getpwnam(prefix + "cy").pw_dir == str(homes / f"{prefix}cy")
    finally:
        for entry in pwd.getpwall():
            if entry.pw_name.startswith(prefix):
                subprocess.run(["userdel", "--remove", entry.pw_name], capture_output=True)
        shutil.rmtree(homes, ignore_errors=True)
