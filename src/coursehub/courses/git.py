"""Thin, typed wrappers over the `git` command for coursehub's course checkouts.

A checkout is coursehub's own read-only copy of a course repository: a pull fetches,
then forces the work tree to ``origin/<branch>``, so there is never a merge conflict.
git runs without a shell, with timeouts, in its own session (no terminal to prompt
on) and with every password prompt disabled; messages never show URL credentials.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from coursehub.core.errors import CoursehubError
from coursehub.courses.repo_links import restore_links, tracked_links

CLONE_TIMEOUT = 600.0
FETCH_TIMEOUT = 300.0
LOCAL_TIMEOUT = 60.0
MAX_OUTPUT_BYTES = 64 * 1024  # of a clone's or pull's output: what the database keeps

# Passed to every git run. Links are checked out as plain files so that nothing in
# a course checkout can point students' servers or the service outside the course;
# repo_links then makes the ones that stay inside the repository real links again.
_CONFIG = ("-c", "protocol.ext.allow=never", "-c", "core.symlinks=false")
_REMOTE_SCHEMES = {"http", "https", "ssh", "git", "git+ssh", "ssh+git"}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HELPER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9+.-]*)::")
_SCP_LIKE = re.compile(r"^[^/]*:")  # host:path, git's rule: a colon before any slash
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/\s]*)@")
_COMMIT = re.compile(r"^[0-9a-f]{4,64}$")


class CourseError(CoursehubError):
    """A course operation failed; the message says why (with git's own words)."""


@dataclass(frozen=True)
class CloneResult:
    branch: str
    commit: str
    output: str


@dataclass(frozen=True)
class PullResult:
    ok: bool
    output: str
    old_commit: str | None
    new_commit: str | None

    @property
    def changed(self) -> bool:
        return self.ok and self.old_commit != self.new_commit


def redact(text: str) -> str:
    """Hide credentials in URLs: all of an http(s) userinfo (tokens often sit in the
    user part), only the password for other schemes (an ssh user is not secret)."""

    def hide(m: re.Match[str]) -> str:
        scheme, userinfo = m.group(1), m.group(2)
        if scheme.lower().startswith("http"):
            return f"{scheme}***@"
        user, sep, _password = userinfo.partition(":")
        return f"{scheme}{user}{':***' if sep else ''}@"

    return _USERINFO.sub(hide, text)


def check_repo_url(url: str) -> str:
    """The URL or path to clone (local paths made absolute), or CourseError."""
    url = url.strip()
    shown = redact(url)
    if not url:
        raise CourseError("the repository URL is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise CourseError(f"the repository URL {shown!r} contains control characters")
    if url.startswith("-") or re.search(r"(://|@)-", url):
        raise CourseError(
            f"the repository URL {shown!r} starts a name with '-', which git would read "
            "as an option; give an https://, ssh:// or git@host:path URL or a local path"
        )
    helper = _HELPER.match(url)
    if helper:
        if helper.group(1).lower() in ("ext", "fd"):
            raise CourseError(
                f"the repository URL {shown!r} uses git's {helper.group(1)}:: transport, "
                "which runs commands on this machine; it is never allowed"
            )
        raise CourseError(
            f"the repository URL {shown!r} uses a remote helper ({helper.group(1)}::); "
            "use an https://, ssh:// or git@host:path URL or a local path"
        )
    scheme = _SCHEME.match(url)
    if scheme:
        name = scheme.group(1).lower()
        if name == "file":
            parts = urlsplit(url)
            path = Path(unquote(parts.path))
            if parts.netloc not in ("", "localhost") or not path.exists():
                raise CourseError(f"{shown}: no such repository on this machine")
            return url
        if name not in _REMOTE_SCHEMES:
            raise CourseError(
                f"the repository URL {shown!r} uses {name}://; use https://, ssh://, "
                "git://, file:// or a local path"
            )
        return url
    if _SCP_LIKE.match(url):
        return url  # git@github.com:org/repo.git
    path = Path(url).expanduser()
    if not path.exists():
        raise CourseError(f"{url}: no such directory (give a git URL or a repository path)")
    return str(path.resolve())


def check_branch(branch: str) -> str:
    bad = (
        not branch
        or len(branch) > 255
        or branch.startswith("-")
        or any(c.isspace() or ord(c) < 32 for c in branch)
        or _git(["check-ref-format", f"refs/heads/{branch}"], None, LOCAL_TIMEOUT)[0] != 0
    )
    if bad:
        raise CourseError(f"{branch!r} is not a valid git branch name")
    return branch


def clone(url_or_path: str, dest: Path, branch: str | None = None) -> CloneResult:
    """Clone into `dest` (which must not exist) and check out `branch` (default: the
    remote's default branch). Files are world-readable, .git private (0700)."""
    url = check_repo_url(url_or_path)
    args = ["clone", "--no-local"]  # a copy of its own, no hard links to the source
    if branch is not None:
        args += ["--branch", check_branch(branch)]
    code, out = _git([*args, "--", url, str(dest)], None, CLONE_TIMEOUT)
    if code != 0:
        raise CourseError(f"git could not clone {redact(url)}:\n{out.strip()}")
    code, name, _err = _git3(["symbolic-ref", "--short", "HEAD"], dest, LOCAL_TIMEOUT)
    commit = _head(dest)
    if commit is None:
        raise CourseError(f"{redact(url)} has no commits on its default branch")
    out += _restore_links(dest)
    # .git holds the remote URL (maybe with a token) and the full history (maybe
    # with removed solutions): only coursehub reads it, students get the files.
    (dest / ".git").chmod(0o700)
    dest.chmod(0o755)
    return CloneResult(branch=branch or name.strip(), commit=commit, output=bounded(out))


def pull(
    repo: Path, branch: str | None = None, log: Callable[[str], None] | None = None
) -> PullResult:
    """Fetch `branch` (default: the checked-out one) and force the work tree to it.

    Never raises for git failures: they come back as ``ok=False`` with the output,
    so a caller can record them. Untracked files are removed, ignored ones kept.
    `log` gets each step's output as soon as the step ends.
    """
    old = _head(repo)
    output: list[str] = []
    try:
        if branch is None:
            code, out, _err = _git3(["symbolic-ref", "--short", "HEAD"], repo, LOCAL_TIMEOUT)
            branch = out.strip() if code == 0 else ""
        check_branch(branch)
        remote = f"refs/remotes/origin/{branch}"
        steps = [
            (["fetch", "--prune", "origin", f"+refs/heads/{branch}:{remote}"], FETCH_TIMEOUT),
            (["checkout", "--force", "-B", branch, remote], LOCAL_TIMEOUT),
            (["clean", "-ffd"], LOCAL_TIMEOUT),
        ]
        for args, timeout in steps:
            if log is not None:
                log(f"$ git {' '.join(args)}\n")
            code, out = _git(args, repo, timeout)
            output.append(out)
            if log is not None and out:
                log(out)
            if code != 0:
                output.append(f"git {args[0]} failed (exit code {code})\n")
                return PullResult(False, bounded("".join(output)), old, _head(repo))
    except CourseError as exc:
        output.append(f"{exc}\n")
        return PullResult(False, bounded("".join(output)), old, _head(repo))
    links = _restore_links(repo)
    output.append(links)
    if log is not None and links:
        log(links)
    return PullResult(True, bounded("".join(output)), old, _head(repo))


def _restore_links(repo: Path) -> str:
    """In-repository links made links again (see repo_links); what was done, as output."""
    try:
        code, out, err = _git3(["ls-files", "-s", "-z"], repo, LOCAL_TIMEOUT)
        if code != 0:
            return f"coursehub: links left as plain files: {err.strip()}\n"
        return restore_links(repo, tracked_links(out)).summary()
    except (OSError, CourseError) as exc:
        return f"coursehub: links left as plain files: {exc}\n"


def bounded(text: str, limit: int = MAX_OUTPUT_BYTES) -> str:
    """The last `limit` bytes of `text` (git's errors come last), marked when cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    tail = data[-(limit - 100) :].decode("utf-8", "ignore")
    return f"[... {len(data) - len(tail.encode())} bytes cut ...]\n{tail}"


def head_commit(repo: Path) -> str:
    commit = _head(repo)
    if commit is None:
        raise CourseError(f"{repo} is not a git checkout with a commit")
    return commit


def changed_files(repo: Path, old: str, new: str) -> list[str]:
    """Paths that differ between two commits (works across force-pushes too)."""
    for commit in (old, new):
        if not _COMMIT.match(commit):
            raise CourseError(f"{commit!r} is not a commit id")
    args = ["diff", "--name-only", "-z", "--no-renames", old, new, "--"]
    code, out, err = _git3(args, repo, LOCAL_TIMEOUT)
    if code != 0:
        raise CourseError(f"git could not compare {old[:12]} and {new[:12]}:\n{err.strip()}")
    return [p for p in out.split("\0") if p]


def _head(repo: Path) -> str | None:
    if not repo.is_dir():
        return None
    args = ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]
    code, out, _err = _git3(args, repo, LOCAL_TIMEOUT)
    return out.strip() if code == 0 and _COMMIT.match(out.strip()) else None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="",  # set but empty: git asks no helper program either
        SSH_ASKPASS="",
        GIT_ALLOW_PROTOCOL="file:git:http:https:ssh",
        LC_ALL="C",
    )
    if "GIT_SSH" not in env and "GIT_SSH_COMMAND" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=30"
    return env


def _git(args: list[str], cwd: Path | None, timeout: float = LOCAL_TIMEOUT) -> tuple[int, str]:
    """Exit code and output (stdout then stderr), credentials redacted."""
    code, out, err = _git3(args, cwd, timeout)
    return code, out + err


def _git3(args: list[str], cwd: Path | None, timeout: float) -> tuple[int, str, str]:
    """Exit code, stdout and stderr, credentials redacted."""
    if cwd is not None and not cwd.is_dir():
        raise CourseError(f"no course checkout at {cwd}; remove the course and add it again")
    try:
        proc = subprocess.Popen(
            ["git", *_CONFIG, *args],
            cwd=cwd,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # no controlling terminal, and one group to kill
            umask=0o022,  # checkouts readable by students whatever coursehub's umask
        )
    except FileNotFoundError as exc:
        raise CourseError("git is not installed; install it (e.g. apt install git)") from exc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # ssh and remote helpers too
        out, err = proc.communicate()
        text = (out + err).decode("utf-8", "replace")
        raise CourseError(
            f"git {args[0]} took longer than {timeout:.0f} s and was stopped:\n{redact(text)}"
        ) from None
    return (
        proc.returncode,
        redact(out.decode("utf-8", "replace")),
        redact(err.decode("utf-8", "replace")),
    )
