"""Course notebook links opened by the hub itself, without the service's sign-in.

A notebook link (`/services/coursehub/open/<course>/<notebook>`) clicked by someone not
signed in to the coursehub pages used to start the service's own OAuth with the hub
(authorize, callback, token, user lookup) and come back through the service once the
course server had started: a second sign-in dance in the first minute of a lecture.
The hub already knows who is signed in and whether their course server is ready, so
the service sends such clicks to `/hub/user-redirect/coursehub:open/<course>/<notebook>`
(JupyterHub's user-redirect, with coursehub's hook: hub/user_redirect.py), where:

- membership is checked first, as the service does; anyone outside the course, and
  anything out of the ordinary (no such notebook, a kernel notice to read, backends
  where the student's server places files), goes to the service's own link marked
  `from=hub`, which answers as it always has (the same 404 for every non-member);
- a course server that is not ready is started by the hub's spawn page, which comes
  back here when it is;
- the notebook is copied as the student (never over their own version), the open is
  noted, and the browser goes to JupyterLab on it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from coursehub.accounts.unix import system_username
from coursehub.config.layout import DataLayout
from coursehub.core.errors import CoursehubError
from coursehub.core.link_routes import hub_link, hub_opens, service_link
from coursehub.core.roles import role_from_groups
from coursehub.core.subdomains import server_url
from coursehub.courses.course_kernel import unmet_kernel
from coursehub.courses.notebook_links import course_notebook, notebook_mappings
from coursehub.courses.progress import ProgressStore
from coursehub.courses.servers import resolve_course_server
from coursehub.courses.store import CourseStore
from coursehub.courses.student_files import HostFiles
from coursehub.courses.workspace import Student, demo_student, local_student
from coursehub.db.session import Database

log = logging.getLogger("coursehub.hub")


@dataclass(frozen=True)
class LinkSite:
    """What the hub needs to open links: the site's data, database and accounts."""

    layout: DataLayout
    database_url: str
    backend: str
    user_prefix: str
    subdomain_host: str

    @cached_property
    def database(self) -> Database:
        return Database(self.database_url)

    @cached_property
    def courses(self) -> CourseStore:
        return CourseStore(self.database, self.layout)

    @cached_property
    def progress(self) -> ProgressStore:
        return ProgressStore(self.database)

    @cached_property
    def files(self) -> HostFiles:
        return HostFiles(self.layout, self.student)

    def student(self, username: str) -> Student:
        if self.backend == "demo":
            return demo_student(self.layout.demo_homes, username)
        return local_student(system_username(self.user_prefix, username))


async def open_link(site: LinkSite, user: Any, rest: str, query: str, base_url: str) -> str:
    """Where the link `<OPEN_PREFIX><rest>?<query>` sends the signed-in hub `user`."""
    course, _, path = rest.partition("/")
    fallback = service_link(base_url, course, path, query)
    if not course or not path or not hub_opens(site.backend):
        return fallback
    groups = [g.name for g in getattr(user, "groups", [])]
    role = role_from_groups(groups, admin=bool(user.admin))
    anyway = ("kernel", "anyway") in parse_qsl(query)
    mappings = await asyncio.to_thread(_check, site, user.name, role, course, path, anyway)
    if mappings is None:
        return fallback
    spawner = user.spawners.get(course)
    if spawner is None or not spawner.ready:
        back = hub_link(base_url, course, path, query)
        spawn = f"{base_url}hub/spawn/{quote(user.name)}/{quote(course)}"
        return f"{spawn}?{urlencode({'next': back})}"
    try:
        copied = await site.files.copy_notebook(user.name, course, path, path, mappings)
        await asyncio.to_thread(site.progress.record_open, course, user.name, path, copied)
    except CoursehubError as exc:  # the service's link says what went wrong
        log.warning("opening %s/%s for %s failed: %s", course, path, user.name, exc)
        return fallback
    log.info("%s opened %s/%s (%s)", user.name, course, path, "copied" if copied else "kept")
    server = server_url(base_url, site.subdomain_host, user.name, course)
    return f"{server}lab/tree/{quote(path)}"


def _check(
    site: LinkSite, username: str, role: str, course: str, path: str, anyway: bool
) -> list[tuple[str, str]] | None:
    """The notebook's mappings when `username` may open it here as it is; None for
    everything the service should answer (in this order: not a member, no such
    notebook, a kernel notice to read)."""
    try:
        resolve_course_server(site.courses, site.layout, username, role, course, Path("/"))
        repo = site.layout.course_repo(course)
        notebook = course_notebook(repo, path) if repo.is_dir() else None
        if notebook is None:
            return None
        if not anyway and unmet_kernel(site.layout, course, notebook) is not None:
            return None
        return notebook_mappings(course, repo, path)
    except (CoursehubError, OSError):  # CourseAccessError, PathRejected, manifest errors
        return None
