"""Real hubs for integration tests: `start_hub` starts `coursehub up` with courses and
enrolled students (tests/helpers/hubproc.py), `make_course_repo` makes the courses' git
repositories, `site_folder` a folder for a site's files; everything a module made is
stopped and removed when the module ends.

Stopping a hub (its servers, the hub, the service, the proxy, then its accounts) takes
seconds of waiting: at the end of a module it is handed to a background thread, which
stops the module's hubs and only then removes its folders, while the next module runs.
The session waits for all of it before it ends."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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


class Cleanup:
    """Clean-up steps run one after another, in the order given, on one background
    thread (so a module's folders go only after its hubs have stopped)."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-cleanup")
        self._steps: list[Future[None]] = []

    def later(self, step: Callable[[], None]) -> None:
        self._steps.append(self._thread.submit(step))

    def wait(self) -> None:
        self._thread.shutdown(wait=True)
        for step in self._steps:
            step.result()  # a clean-up that failed shows as an error of the session


@pytest.fixture(scope="session")
def cleanup() -> Iterator[Cleanup]:
    steps = Cleanup()
    yield steps
    steps.wait()


def _remove(folders: list[Path]) -> Callable[[], None]:
    def remove() -> None:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    return remove


@pytest.fixture(scope="module")
def make_course_repo(cleanup: Cleanup) -> Iterator[Callable[..., Path]]:
    """make(files, repo=None): a git repository of `files` (path -> content), one
    commit; by default a new folder under /tmp, where student accounts can read it."""
    made: list[Path] = []

    def make(files: dict[str, str | bytes], repo: Path | None = None) -> Path:
        repo = repo or Path(f"/tmp/coursehub-test-repo-{secrets.token_hex(4)}")
        made.append(repo)
        return make_repo(repo, files)

    yield make
    cleanup.later(_remove(made))


@pytest.fixture(scope="module")
def site_folder(
    tmp_path_factory: pytest.TempPathFactory, cleanup: Cleanup
) -> Iterator[Callable[..., Path]]:
    """make(label, outside_tmp=False): a new folder for a site's coursehub.yaml and
    files; `outside_tmp` for a site that grades (as hubproc.outside_tmp makes them)."""
    outside: list[Path] = []

    def make(label: str, outside_tmp: bool = False) -> Path:
        if outside_tmp:
            base = Path(f"/srv/coursehub-test-{label}-{secrets.token_hex(4)}")
            base.mkdir(mode=0o711)
            outside.append(base)
            return base
        return tmp_path_factory.mktemp(label)

    yield make
    cleanup.later(_remove(outside))


@pytest.fixture(scope="module")
def start_hub(
    site_folder: Callable[..., Path], make_course_repo: Callable[..., Path], cleanup: Cleanup
) -> Iterator[Callable[..., hubproc.RunningHub]]:
    """start(site, outside_tmp=False, **options): a running `coursehub up`, set up as
    hubproc.running(**options) says (users, roles, courses, then, extra_yaml, ...).
    `site`: a folder, or a label for a new one (outside /tmp, its data in it, with
    `outside_tmp`). Every hub started stops when the module ends (in the background,
    see above), the last started first."""
    hubs: list[hubproc.RunningHub] = []

    def start(
        site: str | Path,
        outside_tmp: bool = False,
        courses: dict[str, hubproc.Course] | None = None,
        then: Sequence[Sequence[str]] = (),
        **options: object,
    ) -> hubproc.RunningHub:
        base = site if isinstance(site, Path) else site_folder(site, outside_tmp)
        if outside_tmp:
            options.setdefault("data_dir", base / "data")
        hub = hubproc.write_site(base, **options)  # type: ignore[arg-type]
        hubs.append(hub)  # stopped at the end even if it never came up
        hubproc.start(hub)
        hubproc.set_up(hub, courses or {}, then)
        return hub

    yield start

    def stop_all() -> None:
        for hub in reversed(hubs):
            hubproc.stop(hub)

    cleanup.later(stop_all)
