"""The Alembic migrations build exactly the tables the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from coursehub.db import models
from coursehub.db.session import VERSION_TABLE, ensure_schema, make_engine


def test_migrations_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    ensure_schema(url)
    with make_engine(url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    # Alembic's own version table is the only thing the models do not know.
    leftovers = [d for d in diff if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)]
    assert leftovers == []
