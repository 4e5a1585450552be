"""Run code in a student's real kernel through the Jupyter server REST + websocket API."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import websockets


async def _execute(ws_url: str, token: str, code: str, timeout: float) -> dict:
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False},
        "channel": "shell",
    }
    result: dict = {"stdout": "", "stderr": "", "error": None}
    headers = {"Authorization": f"token {token}"}
    async with websockets.connect(ws_url, additional_headers=headers) as ws:
        await ws.send(json.dumps(request))
        async with asyncio.timeout(timeout):
            while True:
                msg = json.loads(await ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                content = msg["content"]
                if kind == "stream":
                    result[content["name"]] += content["text"]
                elif kind == "error":
                    result["error"] = content["ename"]
                elif kind == "status" and content["execution_state"] == "idle":
                    return result


def run_code(
    server_url: str, token: str, code: str, timeout: float = 60, kernel: str = "python3"
) -> dict:
    """Start a `kernel` on the server at `server_url` (…/user/<name>/), run `code`, stop it."""
    headers = {"Authorization": f"token {token}"}
    with httpx.Client(timeout=60, headers=headers) as client:
        response = client.post(f"{server_url}api/kernels", json={"name": kernel})
        response.raise_for_status()
        kernel_id = response.json()["id"]
        try:
            ws_url = server_url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels"
            return asyncio.run(_execute(ws_url, token, code, timeout))
        finally:
            client.delete(f"{server_url}api/kernels/{kernel_id}")
