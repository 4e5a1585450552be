"""Real hubs for integration tests: `start_hub` starts `coursehub up` with courses and
enrolled students (tests/helpers/hubproc.py), `make_course_repo` makes the courses' git
repositories, `site_folder` a folder for a site's files; everything a module made is
stopped and removed when the module ends."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.helpers import hubproc
from tests.helpers.gitrepo import make_repo


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root to create one Unix account per student")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def make_course_repo() -> Iterator[Callable[..., Path]]:
    """make(files, repo=None): a git repository of `files` (path -> content), one
    commit; by default a new folder under /tmp, where student accounts can read it."""
    made: list[Path] = []

    def make(files: dict[str, str | bytes], repo: Path | None = None) -> Path:
        repo = repo or Path(f"/tmp/coursehub-test-repo-{secrets.token_hex(4)}")
        made.append(repo)
        return make_repo(repo, files)

    yield make
    for repo in made:
        shutil.rmtree(repo, ignore_errors=True)


@pytest.fixture(scope="module")
def site_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Path]]:
    """make(label, outside_tmp=False): a new folder for a site's coursehub.yaml and
    files; `outside_tmp` for a site that grades (hubproc.outside_tmp)."""
    with ExitStack() as made:

        def make(label: str, outside_tmp: bool = False) -> Path:
            if outside_tmp:
                return made.enter_context(hubproc.outside_tmp(label))
            return tmp_path_factory.mktemp(label)

        yield make


@pytest.fixture(scope="module")
def start_hub(
    site_folder: Callable[..., Path], make_course_repo: Callable[..., Path]
) -> Iterator[Callable[..., hubproc.RunningHub]]:
    """start(site, outside_tmp=False, **options): a running `coursehub up`, set up as
    hubproc.running(**options) says (users, roles, courses, then, extra_yaml, ...).
    `site`: a folder, or a label for a new one (outside /tmp, its data in it, with
    `outside_tmp`). Every hub started stops when the module ends."""
    with ExitStack() as hubs:

        def start(site: str | Path, outside_tmp: bool = False, **options: object):
            base = site if isinstance(site, Path) else site_folder(site, outside_tmp)
            if outside_tmp:
                options.setdefault("data_dir", base / "data")
            return hubs.enter_context(hubproc.running(base, **options))

        yield start
