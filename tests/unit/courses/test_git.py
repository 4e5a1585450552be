"""coursehub.courses.git against real git repositories made in tmp_path."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from coursehub.courses import git
from coursehub.courses.git import CourseError
from tests.helpers.gitrepo import run_git


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", message)
    return run_git(repo, "rev-parse", "HEAD")


def make_repo(path: Path, branch: str = "main") -> Path:
    path.mkdir(parents=True)
    run_git(path, "init", "-q", "-b", branch)
    commit(path, {"README.md": "# Course\n", "notebooks/01.ipynb": "{}\n"}, "first")
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "source")


def test_clone_makes_readable_files_and_a_private_git_dir(source: Path, tmp_path: Path):
    old = os.umask(0o077)  # coursehub may run with a strict umask; students still read
    try:
        result = git.clone(str(source), tmp_path / "copy")
    finally:
        os.umask(old)
    copy = tmp_path / "copy"
    assert result.branch == "main"
    assert result.commit == run_git(source, "rev-parse", "HEAD") == git.head_commit(copy)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o755
    assert stat.S_IMODE((copy / "notebooks").stat().st_mode) == 0o755
    assert stat.S_IMODE((copy / "notebooks" / "01.ipynb").stat().st_mode) == 0o644
    assert stat.S_IMODE((copy / ".git").stat().st_mode) == 0o700


def test_clone_follows_the_default_or_a_named_branch(tmp_path: Path):
    source = make_repo(tmp_path / "src", branch="trunk")
    run_git(source, "checkout", "-q", "-b", "solutions")
    commit(source, {"answers.py": "x = 1\n"})
    run_git(source, "checkout", "-q", "trunk")
    assert git.clone(str(source), tmp_path / "a").branch == "trunk"
    assert not (tmp_path / "a" / "answers.py").exists()
    assert git.clone(str(source), tmp_path / "b", "solutions").branch == "solutions"
    assert (tmp_path / "b" / "answers.py").exists()
    with pytest.raises(CourseError, match="nope") as err:
        git.clone(str(source), tmp_path / "c", "nope")
    assert "not found" in str(err.value)  # git's own words
    with pytest.raises(CourseError, match="not a valid git branch"):
        git.clone(str(source), tmp_path / "d", "--upload-pack=touch /tmp/x")


def test_pull_moves_the_checkout_to_the_new_commit(source: Path, tmp_path: Path):
    copy = tmp_path / "copy"
    first = git.clone(str(source), copy).commit
    second = commit(source, {"notebooks/02.ipynb": "{}\n", "README.md": "# v2\n"})
    result = git.pull(copy)
    assert result.ok and result.changed
    assert (result.old_commit, result.new_commit) == (first, second)
    assert f"{first[:7]}..{second[:7]}" in result.output
    assert git.changed_files(copy, first, second) == ["README.md", "notebooks/02.ipynb"]
    assert (copy / "README.md").read_text() == "# v2\n"
    again = git.pull(copy, "main")
    assert again.ok and not again.changed


def test_pull_overrides_local_edits_and_force_pushes(source: Path, tmp_path: Path):
    copy = tmp_path / "copy"
    git.clone(str(source), copy)
    (copy / "README.md").write_text("edited in the checkout")
    (copy / "stray.txt").write_text("untracked")
    second = commit(source, {"README.md": "# from upstream\n"})
    run_git(source, "reset", "-q", "--hard", "HEAD~1")  # history rewritten upstream
    third = commit(source, {"other.md": "rewritten\n"})
    result = git.pull(copy)
    assert result.ok, result.output
    assert result.new_commit == third != second
    assert (copy / "README.md").read_text() == "# Course\n"
    assert not (copy / "stray.txt").exists()


def test_failed_pull_is_reported_not_raised(source: Path, tmp_path: Path):
    copy = tmp_path / "copy"
    first = git.clone(str(source), copy).commit
    source.rename(tmp_path / "moved")
    result = git.pull(copy)
    assert not result.ok and not result.changed
    assert result.new_commit == result.old_commit == first
    assert "fetch failed" in result.output and "does not appear to be a git" in result.output
    gone = git.pull(tmp_path / "nowhere")
    assert not gone.ok and "no course checkout" in gone.output


def test_symlinks_are_checked_out_as_plain_files(source: Path, tmp_path: Path):
    (source / "secrets").symlink_to("/etc/passwd")
    commit(source, {})
    git.clone(str(source), tmp_path / "copy")
    link = tmp_path / "copy" / "secrets"
    assert not link.is_symlink() and link.read_text() == "/etc/passwd"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("-oProxyCommand=x", "as an option"),
        ("--upload-pack=touch pwned", "as an option"),
        ("ssh://-oProxyCommand=x/repo", "as an option"),
        ("ext::sh -c x", "runs commands"),
        ("EXT::sh -c x", "runs commands"),
        ("fd::3", "runs commands"),
        ("foo::bar", "remote helper"),
        ("file:///no/such/repo", "no such repository"),
        ("/no/such/repo", "no such directory"),
        ("ftp://example.org/repo.git", "uses ftp://"),
        ("https://example.org/a\nb", "control characters"),
        ("", "empty"),
    ],
)
def test_dangerous_or_missing_urls_are_rejected_before_git_runs(
    url: str, message: str, tmp_path: Path
):
    with pytest.raises(CourseError, match=message):
        git.clone(url, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
    assert not Path("pwned").exists()


def test_urls_that_are_fine(source: Path):
    assert git.check_repo_url("https://github.com/org/course.git")
    assert git.check_repo_url("git@github.com:org/course.git")
    assert git.check_repo_url(f"file://{source}") == f"file://{source}"
    assert git.check_repo_url(str(source)) == str(source.resolve())


def test_credentials_never_appear_in_messages(tmp_path: Path):
    assert git.redact("https://user:s3cret@h/x and http://tok3n@h/y") == (
        "https://***@h/x and http://***@h/y"
    )
    assert git.redact("ssh://git:s3cret@h/x git@h:x") == "ssh://git:***@h/x git@h:x"
    with pytest.raises(CourseError) as err:
        git.clone("https://user:s3cret@127.0.0.1:1/x.git", tmp_path / "copy")
    assert "s3cret" not in str(err.value) and "***@127.0.0.1" in str(err.value)


class _AskForPassword(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="course"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def password_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AskForPassword)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/course.git"
    server.shutdown()
    server.server_close()


def test_a_server_asking_for_a_password_fails_at_once(password_server: str, tmp_path: Path):
    started = time.monotonic()
    with pytest.raises(CourseError, match="could not clone") as err:
        git.clone(password_server, tmp_path / "copy")
    assert time.monotonic() - started < 30
    assert "terminal prompts disabled" in str(err.value)


def test_a_hanging_git_is_stopped_with_its_children():
    started = time.monotonic()
    with pytest.raises(CourseError, match="longer than 1 s"):
        git._git(["-c", "alias.hang=!sleep 60", "hang"], None, 1)
    assert time.monotonic() - started < 10


def test_changed_files_takes_only_commit_ids(source: Path):
    head = git.head_commit(source)
    with pytest.raises(CourseError, match="not a commit id"):
        git.changed_files(source, "--output=/tmp/x", head)


def test_output_is_bounded_keeping_the_end():
    text = "x" * 200_000 + "fatal: the real error\n"
    cut = git.bounded(text)
    assert len(cut.encode()) <= git.MAX_OUTPUT_BYTES
    assert cut.startswith("[... ") and cut.endswith("fatal: the real error\n")
    assert git.bounded("short") == "short"
