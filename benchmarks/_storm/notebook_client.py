"""A student's browser opening a notebook as JupyterLab 4 does, for the benchmarks:
GET the notebook from the contents API, POST /api/sessions with the kernel its
metadata names, open the kernel's websocket, ``kernel_info`` until it answers, run the
first cell. (The websocket speaks Jupyter's JSON message format, not JupyterLab's
binary ``v1.kernel.websocket.jupyter.org`` one: the same messages, the same work for
the server and the kernel.)"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from websockets.sync.client import connect

NOTEBOOK = "intro.ipynb"
CELL = "1 + 1"
# What a notebook saved by JupyterLab with the default Python kernel says.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
LANGUAGE_INFO = {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"}


def course_notebook() -> nbformat.NotebookNode:
    nb = new_notebook(
        cells=[new_markdown_cell("# Introduction\n\nRun the cell below."), new_code_cell(CELL)]
    )
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    return nb


def put_notebook(server: str, token: str) -> None:
    """The course notebook in the student's server, as the student (contents API)."""
    r = httpx.put(
        f"{server}api/contents/{NOTEBOOK}",
        headers={"Authorization": f"token {token}"},
        json={"type": "notebook", "format": "json", "content": course_notebook()},
        timeout=60,
    )
    r.raise_for_status()


def open_and_run(server: str, token: str, timeout: float) -> tuple[float, str]:
    """JupyterLab opening the notebook and running its first cell: seconds to the
    result, and the kernel name the notebook's metadata asked for."""
    t0 = time.monotonic()
    headers = {"Authorization": f"token {token}"}
    with httpx.Client(headers=headers, timeout=timeout) as http:
        model = http.get(f"{server}api/contents/{NOTEBOOK}", params={"type": "notebook"})
        model.raise_for_status()
        kernel_name = model.json()["content"]["metadata"]["kernelspec"]["name"]
        session = http.post(
            f"{server}api/sessions",
            json={
                "path": NOTEBOOK,
                "type": "notebook",
                "name": NOTEBOOK,
                "kernel": {"name": kernel_name},
            },
        )
        session.raise_for_status()
    kernel = session.json()["kernel"]["id"]
    session_id = uuid.uuid4().hex

    def message(msg_type: str, content: dict) -> tuple[str, str]:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "username": "s",
            "session": session_id,
            "version": "5.3",
        }
        body = {
            "header": header,
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": "shell",
        }
        return msg_id, json.dumps(body)

    ws_url = server.replace("http", "ws", 1) + f"api/kernels/{kernel}/channels"
    end = t0 + timeout
    with connect(
        f"{ws_url}?session_id={session_id}", additional_headers=headers, open_timeout=timeout
    ) as ws:
        # As JupyterLab: ask for the kernel's info once connected, run the cell once
        # the kernel has answered (a request sent before may be lost).
        asked: set[str] = set()
        exec_id: str | None = None
        ask = True
        while time.monotonic() < end:
            if ask and exec_id is None:  # again after 2 s of silence, until it answers
                info_id, info = message("kernel_info_request", {})
                asked.add(info_id)
                ws.send(info)
            try:
                msg = json.loads(ws.recv(timeout=min(2.0, max(0.1, end - time.monotonic()))))
            except TimeoutError:
                ask = True
                continue
            ask = False
            parent = msg.get("parent_header", {}).get("msg_id")
            if parent in asked and msg["msg_type"] == "kernel_info_reply" and exec_id is None:
                exec_id, run = message(
                    "execute_request", {"code": CELL, "silent": False, "store_history": True}
                )
                ws.send(run)
            elif parent is not None and parent == exec_id:
                if msg["msg_type"] == "execute_result":
                    if msg["content"]["data"].get("text/plain") != "2":
                        raise RuntimeError(f"unexpected result {msg['content']['data']}")
                    return time.monotonic() - t0, kernel_name
                if msg["msg_type"] == "error":
                    raise RuntimeError(f"the cell failed: {msg['content'].get('ename')}")
    raise TimeoutError(f"no result within {timeout:.0f} s")
