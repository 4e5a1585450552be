"""Real git repositories made by tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# The JSON of a notebook with no cells.
EMPTY_NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Teacher",
    "GIT_AUTHOR_EMAIL": "teacher@example.org",
    "GIT_COMMITTER_NAME": "Teacher",
    "GIT_COMMITTER_EMAIL": "teacher@example.org",
}


def run_git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> None:
    """Initialise `repo` if needed, then commit everything in it."""
    if not (repo / ".git").exists():
        run_git(repo, "init", "-q", "-b", "main")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", message)


def make_repo(repo: Path, files: dict[str, str | bytes], message: str = "first") -> Path:
    """A git repository at `repo` holding `files` (path inside it -> content), committed."""
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    commit_all(repo, message)
    return repo
