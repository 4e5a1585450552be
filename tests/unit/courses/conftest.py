from __future__ import annotations

import pytest

from coursehub.db import models
from coursehub.db.session import Database


@pytest.fixture
def stats_db(db: Database) -> Database:
    """`db` knowing one course, "stats" (its row only: no repository, no files)."""
    with db.session() as s:
        s.add(models.Course(name="stats", repo_url="/x", branch="main", last_pull_output=""))
    return db
