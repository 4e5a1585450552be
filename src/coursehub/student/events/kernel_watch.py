"""The kernel websocket connection of course servers: jupyter_server's own, plus a look
at execute requests going to the kernel and execute replies coming back.

Only requests from the page itself count (not `silent` ones that extensions send);
their replies give the status (ok / error) and the error name. Nothing else is parsed
and messages pass through unchanged.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from coursehub.student.events.reporter import Reporter

V1 = "v1.kernel.websocket.jupyter.org"
MAX_PENDING = 2000


class CourseKernelConnection(ZMQChannelsWebsocketConnection):
    _pending: OrderedDict[str, str | None] | None = None

    def handle_incoming_message(self, incoming_msg: Any) -> None:
        if Reporter.current is not None:
            try:
                self._note_request(incoming_msg)
            except Exception:  # never let reporting break the student's kernel
                self.log.debug("coursehub: unreadable incoming message", exc_info=True)
        super().handle_incoming_message(incoming_msg)

    def _note_request(self, incoming_msg: Any) -> None:
        if self.subprotocol == V1:
            channel, parts = deserialize_msg_from_ws_v1(incoming_msg)
            if channel != "shell":
                return
            header = json.loads(parts[0])
            metadata = json.loads(parts[2]) if len(parts) > 2 else {}
            content = json.loads(parts[3]) if len(parts) > 3 else {}
        else:
            msg = json.loads(incoming_msg)
            if msg.get("channel") != "shell":
                return
            header = msg.get("header") or {}
            metadata = msg.get("metadata") or {}
            content = msg.get("content") or {}
        if header.get("msg_type") != "execute_request" or content.get("silent"):
            return
        if self._pending is None:
            self._pending = OrderedDict()
        self._pending[header["msg_id"]] = metadata.get("cellId")
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

    def handle_outgoing_message(self, stream: str, outgoing_msg: list[Any]) -> None:
        if self._pending:
            try:
                self._note_reply(stream, outgoing_msg)
            except Exception:
                self.log.debug("coursehub: unreadable kernel reply", exc_info=True)
        super().handle_outgoing_message(stream, outgoing_msg)

    def _note_reply(self, stream: Any, outgoing_msg: list[Any]) -> None:
        channel = stream if isinstance(stream, str) else getattr(stream, "channel", None)
        if channel != "shell" or self._pending is None:
            return
        _, parts = self.session.feed_identities(outgoing_msg)
        # parts: signature, header, parent header, metadata, content, buffers...
        header = self.session.unpack(parts[1])
        if header.get("msg_type") != "execute_reply":
            return
        parent = self.session.unpack(parts[2])
        msg_id = parent.get("msg_id")
        if msg_id not in self._pending:
            return
        cell_id = self._pending.pop(msg_id)
        content = self.session.unpack(parts[4])
        status = content.get("status")
        if status not in ("ok", "error"):
            return  # "aborted": an earlier cell failed and the rest of the queue was dropped
        data: dict[str, Any] = {"status": status, "count": content.get("execution_count")}
        if status == "error":
            data["error"] = str(content.get("ename", "Error"))[:200]
        if cell_id:
            data["cell_id"] = str(cell_id)[:64]
        reporter = Reporter.current
        if reporter is not None and self.kernel_id:
            reporter.cell_executed(self.kernel_id, data)
