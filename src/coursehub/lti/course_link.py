"""From a valid launch to a coursehub course: the LMS course (context) is recorded with
the services it offers (grades, roster), linked to a course (created on an
instructor's first launch when allowed), the user enrolled with their LMS role, and
the launch's target (a notebook, an assignment or the course page) chosen."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from coursehub.config.layout import DataLayout
from coursehub.core.names import validate_course_name
from coursehub.courses.git import CourseError
from coursehub.courses.store import CourseStore
from coursehub.db.models import LtiContext
from coursehub.db.session import Database
from coursehub.lti.launch_validation import ValidLaunch

AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
ROLE_STRENGTH = {None: 0, "student": 1, "ta": 2, "instructor": 3}
SOURCES_DIR = "lms-course-sources"


@dataclass(frozen=True)
class ContextInfo:
    pk: int
    platform_id: int
    context_id: str
    course: str | None
    title: str
    label: str


def _text(value: Any, limit: int = 255) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def record_context(db: Database, launch: ValidLaunch) -> ContextInfo:
    """Create or refresh the LMS course the launch came from (title, services)."""
    context = launch.claim("context") or {}
    context_id = str(context.get("id"))[:255]
    ags = launch.claims.get(AGS_ENDPOINT)
    nrps = launch.claims.get(NRPS_CLAIM)
    with db.session() as s:
        row = s.scalars(
            select(LtiContext).where(
                LtiContext.platform_id == launch.platform.id, LtiContext.context_id == context_id
            )
        ).first()
        if row is None:
            row = LtiContext(platform_id=launch.platform.id, context_id=context_id)
            s.add(row)
        row.deployment_id = launch.deployment_id[:255]
        row.title = _text(context.get("title")) or row.title or ""
        row.label = _text(context.get("label")) or row.label or ""
        if isinstance(ags, dict) and isinstance(ags.get("lineitems"), str):
            row.ags_lineitems_url = ags["lineitems"][:2000]
            scopes = [x for x in ags.get("scope") or [] if isinstance(x, str)]
            row.ags_scopes = json.dumps(scopes)
        if isinstance(nrps, dict) and isinstance(nrps.get("context_memberships_url"), str):
            row.nrps_url = nrps["context_memberships_url"][:2000]
        row.updated_at = datetime.now(UTC)
        s.flush()
        return ContextInfo(
            row.id, row.platform_id, row.context_id, row.course, row.title, row.label
        )


def launch_role(launch: ValidLaunch) -> str | None:
    from coursehub.lti.roles import course_role

    roles = launch.claim("roles") or []
    return course_role([r for r in roles if isinstance(r, str)])


def enrol_from_launch(courses: CourseStore, course: str, username: str, role: str) -> None:
    """Enrol with the LMS role; a launch never lowers a role given in coursehub (an
    instructor who views the LMS course as a student stays instructor)."""
    current = courses.role_of(course, username)
    if ROLE_STRENGTH.get(current, 0) < ROLE_STRENGTH[role]:
        courses.enrol(course, username, role)


def link_context(db: Database, context_pk: int, course: str) -> None:
    with db.session() as s:
        row = s.get(LtiContext, context_pk)
        if row is not None:
            row.course = course
            row.updated_at = datetime.now(UTC)


def course_name_for(context: ContextInfo, taken: set[str]) -> str:
    """A readable, unused course name from the LMS course's label or title."""
    raw = context.label or context.title or "lms-course"
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9_-]+", "-", ascii_text.lower()).strip("-_")
    stem = re.sub(r"^[^a-z]+", "", stem)[:32].rstrip("-_") or "lms-course"
    name, number = stem, 2
    while name in taken or validate_course_name(name):
        name = f"{stem}-{number}"
        number += 1
    return name


def create_course_for_context(
    db: Database, layout: DataLayout, courses: CourseStore, context_pk: int, username: str
) -> str:
    """Create a course for an unlinked LMS course, link it and make `username` its
    instructor. Its content starts as a small git repository in the data directory
    (lms-course-sources/NAME) that the instructor fills, or replaces by linking the
    LMS course to a course added from their own repository."""
    with db.session() as s:
        row = s.get(LtiContext, context_pk)
        if row is None:
            raise LookupError("unknown LMS course")
        if row.course:
            return row.course
        context = ContextInfo(row.id, row.platform_id, row.context_id, None, row.title, row.label)
    name = course_name_for(context, {c.name for c in courses.list()})
    source = starter_repository(layout.root / SOURCES_DIR / name, context.title or name)
    courses.add(name, str(source))
    link_context(db, context_pk, name)
    courses.enrol(name, username, "instructor")
    return name


def starter_repository(path: Path, title: str) -> Path:
    """A git repository holding one welcome notebook, made once."""
    import nbformat

    if (path / ".git").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            f"# {title}\n\nWelcome! This course was created from the LMS. Your instructor "
            "adds notebooks to its repository; they appear here."
        ),
        nbformat.v4.new_code_cell("print('Hello from coursehub')"),
    ]
    nbformat.write(nb, str(path / "welcome.ipynb"))
    git = shutil.which("git") or "git"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "coursehub",
        "GIT_AUTHOR_EMAIL": "coursehub@localhost",
        "GIT_COMMITTER_NAME": "coursehub",
        "GIT_COMMITTER_EMAIL": "coursehub@localhost",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", title]):
        done = subprocess.run([git, *args], cwd=path, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)  # a half-made repository is worse than none
            raise CourseError(
                f"could not make the course's starter repository: {done.stderr[:300]}"
            )
    return path


def target_path(service_prefix: str, course: str, launch: ValidLaunch) -> str:
    """Where the launch lands: a notebook or assignment named by the link's custom
    parameters (set by deep linking), else the course page."""
    custom = launch.claim("custom") or {}
    if not isinstance(custom, dict):
        custom = {}
    notebook = custom.get("coursehub_notebook") or custom.get("notebook")
    assignment = custom.get("coursehub_assignment") or custom.get("assignment")
    root = service_prefix.rstrip("/")
    if isinstance(notebook, str) and notebook.strip():
        return f"{root}/open/{quote(course)}/{quote(notebook.strip().lstrip('/'))}"
    if isinstance(assignment, str) and assignment.strip():
        return f"{root}/course/{quote(course)}/assignments/{quote(assignment.strip(), safe='')}"
    return f"{root}/course/{quote(course)}"
