"""What `coursehub config check` says beyond the file itself: settings that name things
of the site's data (courses), checked against its database when there is one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from coursehub.config.layout import DataLayout
from coursehub.config.loader import LoadedConfig
from coursehub.config.translate.jupyterhub import coursehub_database_url
from coursehub.db import models
from coursehub.db.session import Database


def team_course_warnings(loaded: LoadedConfig) -> list[str]:
    """Courses auth.github.team_courses names that the site does not have (yet)."""
    github = loaded.config.auth.github
    if github is None or not github.team_courses:
        return []
    named = {
        course: team for team, grants in github.course_grants().items() for course, _ in grants
    }
    layout = DataLayout(loaded.config.site.data_dir)
    url = coursehub_database_url(loaded.config, layout)
    if url.startswith("sqlite") and not layout.coursehub_db_file.exists():
        return [
            "auth.github.team_courses names courses ("
            + ", ".join(sorted(named))
            + ") but the site has no database yet: add them with `coursehub course add` "
            "after the first `coursehub up`"
        ]
    database = Database(url)
    try:
        with database.session() as s:
            known = set(s.scalars(select(models.Course.name)))
    except SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0][:200]
        return [f"auth.github.team_courses: could not read the site's courses ({reason})"]
    finally:
        database.dispose()
    return [
        f"auth.github.team_courses: team {team!r} names course {course!r}, which does not "
        "exist: add it with `coursehub course add` (until then its members are not enrolled)"
        for course, team in sorted(named.items())
        if course not in known
    ]
