"""The student server's event sender against a real local HTTP server that misbehaves:
bursts go in one request, a service that is away or overloaded loses nothing, a
refusal is not retried forever."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from coursehub.student.events import sender as sender_module
from coursehub.student.events.sender import EventSender


class Service:
    """Answers each POST with the next scripted status (then 201), keeping bodies."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.bodies: list[list[dict[str, Any]]] = []
        self.auth: list[str] = []
        service = self

        class Events(RequestHandler):
            def post(self) -> None:
                service.auth.append(self.request.headers.get("Authorization", ""))
                status = service.statuses.pop(0) if service.statuses else 201
                if status == 201:
                    service.bodies.append(json.loads(self.request.body))
                if status == 429:
                    self.set_header("Retry-After", "1")
                self.set_status(status)
                self.finish("{}")

        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.server = HTTPServer(Application([(r"/events", Events)]))
        self.server.add_sockets(sockets)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def delivered(self) -> list[dict[str, Any]]:
        return [e for body in self.bodies for e in body]


async def test_a_burst_goes_in_one_request_with_the_server_token() -> None:
    service = Service([])
    sender = EventSender(service.url, "server-token")
    for n in range(5):
        sender.send({"type": "cell_executed", "n": n})
    await sender.flush()
    await asyncio.sleep(0.1)
    assert len(service.bodies) == 1 and [e["n"] for e in service.delivered()] == list(range(5))
    assert service.auth == ["token server-token"]
    service.server.stop()


async def test_an_unavailable_service_loses_nothing_and_order_is_kept() -> None:
    service = Service([503, 429])
    sender = EventSender(service.url, "t", gather=0.01)
    sender.send({"n": 1})
    sender.send({"n": 2})
    await asyncio.sleep(0.05)
    sender.send({"n": 3})  # arrives while the first batch is being retried
    await sender.flush(timeout=10)
    await asyncio.sleep(0.1)
    assert [e["n"] for e in service.delivered()] == [1, 2, 3]
    assert sender.sent == 3
    service.server.stop()


async def test_a_refused_batch_is_dropped_not_retried_forever() -> None:
    service = Service([400])
    sender = EventSender(service.url, "t", gather=0.01)
    sender.send({"n": "bad"})
    await sender.flush(timeout=5)
    sender.send({"n": "good"})
    await sender.flush(timeout=5)
    await asyncio.sleep(0.1)
    assert [e["n"] for e in service.delivered()] == ["good"]
    service.server.stop()


def test_the_queue_is_bounded_while_the_service_is_away(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(sender_module, "MAX_QUEUED", 10)
    bounded = EventSender("http://127.0.0.1:9/nowhere", "t")
    for n in range(25):
        bounded._queue.append({"n": n})  # what send() queues; the oldest go first
    assert [e["n"] for e in bounded._queue] == list(range(15, 25))
