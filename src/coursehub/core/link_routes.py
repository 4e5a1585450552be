"""The two addresses of a course notebook link, shared by the service and the hub.

`/services/coursehub/open/<course>/<notebook>` is the link people publish; the service
sends a browser not signed in to it to the hub's
`/hub/user-redirect/coursehub:open/<course>/<notebook>`, which opens the link without
the service's own sign-in (hub/course_links.py) and sends what it leaves to the
service back to the first address, marked `from=hub`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode

from coursehub.core.roles import SERVICE_NAME

OPEN_PREFIX = "coursehub:open/"  # after /hub/user-redirect/; ':' is in no course name
FROM_HUB = ("from", "hub")  # query of the service's link: the hub sent this visitor
# Backends where the student's own server places course files: the service does it (it
# holds the single-server tokens that takes), so the hub leaves their links to it.
SERVER_PLACED = ("docker", "kubernetes")


def hub_opens(backend: str) -> bool:
    """Whether the hub opens links itself on this spawn backend."""
    return backend not in SERVER_PLACED


def service_link(base_url: str, course: str, path: str, query: str) -> str:
    """The service's own link for (course, path), marked so that it answers there."""
    pairs = [*parse_qsl(query, keep_blank_values=True), FROM_HUB]
    link = f"{base_url}services/{SERVICE_NAME}/open/{quote(course)}/{quote(path)}"
    return f"{link}?{urlencode(pairs)}"


def hub_link(base_url: str, course: str, path: str, query: str) -> str:
    """The hub's address for the link (where the service sends signed-out clicks)."""
    link = f"{base_url}hub/user-redirect/{OPEN_PREFIX}{quote(course)}/{quote(path)}"
    return f"{link}?{query}" if query else link
