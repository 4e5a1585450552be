"""Opening a site's data outside the running hub (the command line): its layout, its
database with the schema brought up to date, and the stores commands use.

Every command opens the site this one way, so they all agree on where the data is and
how the data directory is made.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from coursehub.config.layout import DataLayout
from coursehub.config.loader import LoadedConfig
from coursehub.config.translate.jupyterhub import coursehub_database_url
from coursehub.db.session import Database, ensure_schema

if TYPE_CHECKING:
    from coursehub.accounts.store import AccountStore
    from coursehub.courses.store import CourseStore
    from coursehub.grading.store import GradingStore
    from coursehub.lti.platforms import PlatformStore


@dataclass(eq=False)
class Site:
    layout: DataLayout
    database: Database

    @cached_property
    def courses(self) -> CourseStore:
        from coursehub.courses.store import CourseStore

        return CourseStore(self.database, self.layout)

    @cached_property
    def accounts(self) -> AccountStore:
        from coursehub.accounts.store import AccountStore

        return AccountStore(self.database)

    @cached_property
    def grading(self) -> GradingStore:
        from coursehub.grading.paths import GradingPaths
        from coursehub.grading.store import GradingStore

        return GradingStore(self.database, GradingPaths(self.layout.root))

    @cached_property
    def platforms(self) -> PlatformStore:
        from coursehub.lti.platforms import PlatformStore

        return PlatformStore(self.database)


@contextmanager
def open_site(loaded: LoadedConfig, create: bool = True) -> Iterator[Site]:
    """The site of `loaded`; on SQLite its data directory is made when `create` (0711,
    as `coursehub up` makes it: course files below it are read by students)."""
    layout = DataLayout(loaded.config.site.data_dir)
    url = coursehub_database_url(loaded.config, layout)
    if url.startswith("sqlite") and create:
        layout.root.mkdir(parents=True, exist_ok=True, mode=0o711)
    ensure_schema(url)
    database = Database(url)
    try:
        yield Site(layout, database)
    finally:
        database.dispose()
