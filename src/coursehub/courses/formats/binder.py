"""Binder (repo2docker) conventions: which file says what the course's kernel needs.

As repo2docker does: a ``binder/`` folder (or else ``.binder/``) holds the settings and
the top-level files are then ignored; in the chosen place ``environment.yml`` comes
before ``requirements.txt`` (repo2docker ignores requirements.txt beside an
environment.yml). ``postBuild`` and ``start`` are refused: coursehub runs no code from
the repository when it builds an environment or starts a server. Files for other
build systems (``apt.txt``, ``runtime.txt``, ``install.R``...) are named as not used.
"""

from __future__ import annotations

from pathlib import Path

from coursehub.courses.formats.found import Found
from coursehub.courses.formats.reading import repo_dir, repo_file

FOLDERS = ("binder", ".binder")
ENVIRONMENT_FILES = ("environment.yml", "requirements.txt")
REFUSED = ("postBuild", "start")
NOT_USED = (
    "apt.txt",
    "runtime.txt",
    "install.R",
    "Project.toml",
    "REQUIRE",
    "default.nix",
    "Dockerfile",
    "Pipfile",
    "setup.py",
    "DESCRIPTION",
)


def binder_folder(repo: Path) -> str:
    """'binder', '.binder' or '' (the top of the repository)."""
    return next((f for f in FOLDERS if repo_dir(repo, f) is not None), "")


def read_binder(repo: Path) -> Found | None:
    """The environment file to build from (value: its path, or None) and notes."""
    folder = binder_folder(repo)
    prefix = f"{folder}/" if folder else ""
    notes: list[str] = []
    if folder == "binder" and repo_dir(repo, ".binder") is not None:
        notes.append(".binder/ is ignored: binder/ is used (repo2docker refuses both)")
    if folder:
        for name in ENVIRONMENT_FILES:
            if repo_file(repo, name) is not None:
                notes.append(f"{name} is ignored: {folder}/ holds the environment settings")
    chosen = next((prefix + n for n in ENVIRONMENT_FILES if repo_file(repo, prefix + n)), None)
    if (
        chosen
        and chosen.endswith("environment.yml")
        and repo_file(repo, prefix + "requirements.txt")
    ):
        notes.append(f"{prefix}requirements.txt is ignored beside {chosen} (as repo2docker does)")
    for name in REFUSED:
        if repo_file(repo, prefix + name) is not None:
            notes.append(
                f"{prefix}{name} is refused: coursehub runs no code from the repository when "
                "it builds the environment or starts a server; list what it installs in "
                f"{chosen or 'requirements.txt'} instead"
            )
    unused = [prefix + n for n in NOT_USED if repo_file(repo, prefix + n) is not None]
    if unused:
        notes.append(f"not used by coursehub: {', '.join(unused)}")
    if chosen is None and not notes:
        return None
    # a binder/ folder without an environment file: the top-level ones are still ignored
    return Found(chosen or (f"{folder}/" if folder else ""), chosen, notes)
