from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.store import CourseStore
from coursehub.db.session import Database
from tests.helpers.coursedb import open_database
from tests.helpers.gitrepo import make_repo


@pytest.fixture
def alice_courses(tmp_path: Path) -> Iterator[Callable[[str, Path], Database]]:
    """make(url, data_dir): the coursehub database at `url` with courses ds101 and lab
    (each from a repository of its own; alice enrolled in both, bob nowhere)."""
    made: list[Database] = []

    def make(url: str, data_dir: Path) -> Database:
        db = open_database(url)
        made.append(db)
        store = CourseStore(db, DataLayout(data_dir))
        for course in ("ds101", "lab"):
            repo = make_repo(tmp_path / f"{course}-src", {"intro.ipynb": "{}\n"})
            store.add(course, str(repo))
            store.enrol(course, "alice")
        return db

    yield make
    for db in made:
        db.dispose()
