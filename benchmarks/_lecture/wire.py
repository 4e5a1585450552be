"""Kernel messages on JupyterLab 4's websocket: the ``v1.kernel.websocket.jupyter.org``
framing (binary: offsets, channel, header, parent header, metadata, content, buffers)
that JupyterLab negotiates with jupyter_server 2, and the legacy JSON text frames."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
PROTOCOL_VERSION = "5.4"


def encode_v1(channel: str, msg: dict[str, Any]) -> bytes:
    """One message as JupyterLab 4 sends it (jupyter_server's serialize_msg_to_ws_v1)."""
    parts = [json.dumps(msg[key]).encode() for key in
             ("header", "parent_header", "metadata", "content")]  # fmt: skip
    chan = channel.encode()
    offsets = [8 * (1 + 1 + len(parts) + 1)]
    offsets.append(offsets[-1] + len(chan))
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets)
    return head + chan + b"".join(parts)


def decode_v1(data: bytes) -> tuple[str, dict[str, Any]]:
    count = int.from_bytes(data[:8], "little")
    offsets = [int.from_bytes(data[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(count)]
    channel = data[offsets[0] : offsets[1]].decode()
    parts = [data[offsets[i] : offsets[i + 1]] for i in range(1, count - 1)]
    keys = ("header", "parent_header", "metadata", "content")
    msg = {key: json.loads(part) if part else {} for key, part in zip(keys, parts, strict=False)}
    return channel, msg


def decode(payload: bytes | str) -> tuple[str, dict[str, Any]]:
    if isinstance(payload, bytes | bytearray):
        return decode_v1(bytes(payload))
    msg = json.loads(payload)
    return str(msg.get("channel", "")), msg


def decode_frame(payload: bytes | str) -> dict[str, Any]:
    """What the recording keeps of one frame: its channel and type, its parent's type,
    the content of what the client sent, and a few fields of what it received."""
    try:
        channel, msg = decode(payload)
    except (ValueError, IndexError, UnicodeDecodeError):
        return {"undecoded": True, "binary": isinstance(payload, bytes | bytearray)}
    header, parent = msg.get("header") or {}, msg.get("parent_header") or {}
    content = msg.get("content") or {}
    out: dict[str, Any] = {
        "binary": isinstance(payload, bytes | bytearray),
        "channel": channel,
        "msg_type": header.get("msg_type"),
        "parent_msg_type": parent.get("msg_type"),
        "header": header,
        "metadata": msg.get("metadata") or {},
        "content": content,
    }
    return out


def message(
    msg_type: str, content: dict[str, Any], session: str, username: str, **extra: Any
) -> dict[str, Any]:
    """A new client message, as @jupyterlab/services makes one."""
    header = {
        "msg_id": str(uuid.uuid4()),
        "msg_type": msg_type,
        "session": session,
        "username": username,
        "date": datetime.now(UTC).isoformat(),
        "version": PROTOCOL_VERSION,
    }
    return {"header": header, "parent_header": {}, "metadata": extra.get("metadata", {}),
            "content": content}  # fmt: skip
