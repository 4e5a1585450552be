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


def code_cells(notebook_text: str, suffix: str) -> list[str]:
    """The code of a notebook's code cells: .ipynb JSON or MyST Markdown's code-cells."""
    if suffix == ".ipynb":
        cells = json.loads(notebook_text)["cells"]
        return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    import re

    found = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", notebook_text, re.M | re.S)
    return [code for code in found if code.strip()]


def run_notebook(
    server_url: str, token: str, path: str, cells: list[str], kernel: str, timeout: float = 60
) -> list[dict]:
    """Run `cells` as JupyterLab would the notebook at `path` (…/<path> in the server):
    a session of that notebook on the kernel named `kernel`, in the notebook's folder.
    One result (run_code's) per cell; the session is removed afterwards."""
    headers = {"Authorization": f"token {token}"}
    with httpx.Client(timeout=60, headers=headers) as client:
        response = client.post(
            f"{server_url}api/sessions",
            json={"path": path, "type": "notebook", "name": "", "kernel": {"name": kernel}},
        )
        response.raise_for_status()
        session = response.json()
        ws_url = (
            server_url.replace("http", "ws", 1) + f"api/kernels/{session['kernel']['id']}/channels"
        )
        try:
            return [asyncio.run(_execute(ws_url, token, code, timeout)) for code in cells]
        finally:
            client.delete(f"{server_url}api/sessions/{session['id']}")
