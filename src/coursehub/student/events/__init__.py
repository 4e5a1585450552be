"""The server extension of every course server: tells the coursehub service what
happens in the student's notebooks, for the live class view.

Loaded by coursehub/student/jupyter_config/jupyter_server_config.py when the spawner sets
COURSEHUB_EVENTS_URL and COURSEHUB_COURSE. It listens to jupyter_server's own events
(contents saved or opened, kernels started or restarted), and its websocket connection
class (kernel_watch) sees execute replies. It posts with the server's own hub token, so
the service knows whose events they are.
"""

from __future__ import annotations

import os
from typing import Any

from coursehub.student.events.reporter import Reporter


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "coursehub.student.events"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    url = os.environ.get("COURSEHUB_EVENTS_URL", "")
    course = os.environ.get("COURSEHUB_COURSE", "")
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if not (url and course and token):
        serverapp.log.info("coursehub notebook events: not a course server, not reporting")
        return
    reporter = Reporter.install(serverapp, url, token, course)
    serverapp.log.info("coursehub notebook events: reporting %s to %s", course, reporter.url)
