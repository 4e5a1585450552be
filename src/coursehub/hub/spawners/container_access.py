"""Which course a container server is for, and whether its user may run it.

Shared by the docker and kubernetes spawners: as on one machine, a named server is
a (student x course) server and only the course's members (or a site admin) start it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from coursehub.config.layout import DataLayout
from coursehub.core.roles import role_from_groups
from coursehub.courses.servers import CourseAccessError, resolve_course_server
from coursehub.hub.spawners.spawn_page import spawn_page_error

_stores: dict[tuple[str, str], Any] = {}


def course_store(db_url: str, data_dir: str = "") -> Any:
    """One CourseStore (and connection pool) per database for the whole hub."""
    key = (db_url, data_dir)
    store = _stores.get(key)
    if store is None:
        from coursehub.courses.store import CourseStore
        from coursehub.db.session import Database

        store = _stores[key] = CourseStore(Database(db_url), DataLayout(Path(data_dir or ".")))
    return store


def site_role(user: Any) -> str:
    groups = [g.name for g in getattr(user, "groups", [])]
    return role_from_groups(groups, admin=bool(getattr(user, "admin", False)))


async def check_course_server(user: Any, server_name: str, db_url: str, data_dir: str = "") -> str:
    """The user's role in course `server_name`; a 403 for the spawn page otherwise."""
    store = course_store(db_url, data_dir)
    try:
        course = await asyncio.to_thread(
            resolve_course_server,
            store,
            store.layout,
            user.name,
            site_role(user),
            server_name,
            Path("/home/jovyan"),
        )
    except CourseAccessError as exc:
        shown = f"You cannot start this server: {exc}."
        raise spawn_page_error(403, str(exc), shown) from None
    return course.role
