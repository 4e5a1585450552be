"""coursehub in the student's JupyterLab: the server side of its lab plugin.

Modules:

- labextension/@coursehub/lab: the JupyterLab 4 plugin itself, prebuilt (a hand-written
  module-federation container, no build step); course servers load it from there
  (jupyter_server_config.py puts the folder on LabApp.extra_labextensions_path). It adds
  the Course menu's "Submit this assignment", tells the student when course staff
  stopped their kernel or server, and names the server's owner to a staff member
  helping in it.
- notices.py: the server's notices from course staff, and the pages waiting for them.
- service_client.py: the server's calls to the coursehub service, with its own token.
- kernels.py: when each kernel started; kernels never left marked "starting".

Routes, under the server's base URL (JSON in and out, errors as {"message"}):

- GET  coursehub/lab/notices?after=N&epoch=E[&wait=S] → {"epoch", "last", "notices"}:
  waits up to S (at most LONG_POLL) seconds for a notice after N (after 0 if E is not
  this server's); without `after`, answers at once with none
- POST coursehub/lab/notices {"id"}: the service says it wrote a notice for this server;
  the server fetches it from the service (anything else is refused) and, for a
  server notice, waits up to ACK_WAIT seconds for an open page to save its documents
  → {"delivered": pages waiting, "acked": bool}
- POST coursehub/lab/notices/ack {"id"}: a page saved its documents
- POST coursehub/lab/submit {"assignment"} (header Idempotency-Key) → the service's
  answer, with the assignment page's address ("page")
- GET  coursehub/lab/kernels → [{"id", "path", "started"}] for the staff servers page

Terminals and kernels of the server get COURSEHUB_URL, the service's address, for
submitting from a terminal (docs/students.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from coursehub.student.lab import notices
from coursehub.student.lab.kernels import KERNEL_SCHEMA, KernelClock
from coursehub.student.lab.service_client import (
    ASSIGNMENT,
    IDEMPOTENCY_KEY,
    ServiceClient,
    service_url,
)

ROUTE = "coursehub/lab"
LABEXTENSIONS = Path(__file__).parent / "labextension"
LONG_POLL = 25.0  # seconds a page's request for notices is held open
ACK_WAIT = 5.0  # seconds the service's notice of a server stop waits for a page to save


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "coursehub.student.lab"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.utils import url_path_join

    course = os.environ.get("COURSEHUB_COURSE", "")
    base = service_url()
    if base:
        os.environ.setdefault("COURSEHUB_URL", base)
    client = ServiceClient(base, os.environ.get("JUPYTERHUB_API_TOKEN", ""), course)
    clock = KernelClock(serverapp.kernel_manager)
    serverapp.event_logger.add_listener(schema_id=KERNEL_SCHEMA, listener=clock.on_kernel)
    settings = {"board": notices.NoticeBoard(), "client": client, "clock": clock}
    prefix = url_path_join(serverapp.web_app.settings["base_url"], ROUTE)
    routes = [(f"{prefix}/{path}", handler, settings) for path, handler in _handlers().items()]
    serverapp.web_app.add_handlers(".*$", routes)
    serverapp.log.info("coursehub lab: notices and submissions for %s through %s", course, base)


def _handlers() -> dict[str, type]:
    """The handler of each route below ROUTE."""
    # Imported here: jupyter_server is only there inside a server.
    from jupyter_server.auth.decorator import authorized
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class LabHandler(APIHandler):
        auth_resource = "kernels"

        def initialize(self, board: Any, client: ServiceClient, clock: KernelClock) -> None:
            self.board = board
            self.client = client
            self.clock = clock

        def _body(self) -> dict[str, Any]:
            try:
                body = json.loads(self.request.body or b"{}")
            except ValueError:
                raise web.HTTPError(400, "the body is not JSON") from None
            if not isinstance(body, dict):
                raise web.HTTPError(400, "the body must be a JSON object")
            return body

        def _answer(self, status: int, body: Any) -> None:
            self.set_status(status)
            self.finish(json.dumps(body))

    class NoticesHandler(LabHandler):
        # a page waiting for notices is not the student at work: the idle culler
        # must not see it as activity
        _track_activity = False

        @web.authenticated
        @authorized
        async def get(self) -> None:
            raw = self.get_argument("after", "")
            if raw == "":
                found: list = []
            elif raw.isdigit() and len(raw) < 12:
                # a page that knew an earlier server of this student: all of ours are new
                fresh = self.get_argument("epoch", "") != self.board.epoch
                wait = self.get_argument("wait", "")
                seconds = min(float(wait), LONG_POLL) if wait.isdigit() else LONG_POLL
                found = await self.board.wait(0 if fresh else int(raw), seconds)
            else:
                raise web.HTTPError(400, "after must be a number")
            self._answer(
                200,
                {
                    "epoch": self.board.epoch,
                    "last": self.board.last,
                    "notices": [n.as_json() for n in found],
                },
            )

        @web.authenticated
        @authorized
        async def post(self) -> None:
            notice_id = self._body().get("id")
            if not isinstance(notice_id, str) or not notices.NOTICE_ID.match(notice_id):
                raise web.HTTPError(400, "id must be a notice id of the course service")
            status, data = await self.client.notice(notice_id)
            if status != 200:
                # not a notice the service wrote for this server: nothing is shown
                self._answer(
                    403 if status in (401, 403, 404) else 502, {"message": "no such notice"}
                )
                return
            try:
                fields = notices.parse(data, notice_id)
            except notices.NoticeError as exc:
                self._answer(502, {"message": str(exc)})
                return
            waiting = self.board.listeners
            notice = self.board.publish(fields)
            acked = False
            if notice.kind == "server" and waiting:
                acked = await self.board.acknowledged(notice.id, ACK_WAIT)
            self._answer(200, {"delivered": waiting, "acked": acked})

    class AckHandler(LabHandler):
        @web.authenticated
        @authorized
        async def post(self) -> None:
            notice_id = self._body().get("id")
            if not isinstance(notice_id, str) or not self.board.ack(notice_id):
                raise web.HTTPError(404, "no such notice")
            self._answer(200, {"acked": True})

    class SubmitHandler(LabHandler):
        auth_resource = "contents"

        @web.authenticated
        @authorized
        async def post(self) -> None:
            name = self._body().get("assignment")
            if not isinstance(name, str) or not ASSIGNMENT.match(name):
                self._answer(400, {"message": "this is not the folder of an assignment"})
                return
            key = self.request.headers.get("Idempotency-Key", "")
            if not IDEMPOTENCY_KEY.match(key):
                raise web.HTTPError(400, "an Idempotency-Key header is needed")
            if not self.client.base:
                self._answer(503, {"message": "this server does not know the course service"})
                return
            status, answer = await self.client.submit(name, key)
            self._answer(status, answer)

    class KernelsHandler(LabHandler):
        @web.authenticated
        @authorized
        async def get(self) -> None:
            server = self.serverapp
            assert server is not None  # a handler of a running server
            sessions = await server.session_manager.list_sessions()
            paths = {
                (s.get("kernel") or {}).get("id"): str(s.get("path", ""))
                for s in sessions
                if isinstance(s, dict)
            }
            kernels = []
            for model in server.kernel_manager.list_kernels():
                started = self.clock.started.get(model["id"])
                kernels.append(
                    {
                        "id": model["id"],
                        "path": paths.get(model["id"], ""),
                        "started": started.isoformat() if started else None,
                    }
                )
            self._answer(200, kernels)

    return {
        "notices": NoticesHandler,
        "notices/ack": AckHandler,
        "submit": SubmitHandler,
        "kernels": KernelsHandler,
    }
