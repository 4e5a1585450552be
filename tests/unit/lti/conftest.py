from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.store import CourseStore
from coursehub.lti.keys import ToolKey
from tests.helpers.coursedb import opened_database
from tests.helpers.lti_fixtures import store_key


@pytest.fixture
def cli_courses(tmp_path: Path, tool_key: ToolKey, course_repo: Path) -> Iterator[CourseStore]:
    """A site the `coursehub` command finds (coursehub.yaml in tmp_path, its data in
    tmp_path/data), holding coursehub's LTI key and the course "physics"."""
    layout = DataLayout(tmp_path / "data")
    layout.root.mkdir()
    (tmp_path / "coursehub.yaml").write_text("site:\n  data_dir: ./data\n")
    store_key(tool_key, layout)
    with opened_database(f"sqlite:///{layout.coursehub_db_file}") as db:
        courses = CourseStore(db, layout)
        courses.add("physics", str(course_repo))
        yield courses
