"""Run a shell command in a real terminal of a student's server, as the student types it
in JupyterLab's terminal (its environment is the server's terminal environment)."""

from __future__ import annotations

import json
import socket
import time

import httpx

DONE = "__coursehub_terminal_done__"


def run_in_terminal(
    server_url: str, token: str, command: str, proxy: str = "", timeout: float = 60
) -> str:
    """What `command` prints in a new terminal of the server at `server_url`
    (…/user/<name>/<server>/); the terminal is closed afterwards. `proxy`: the proxy's
    own `host:port` to connect to when `server_url`'s host does not resolve (a user's
    subdomain: the URL's host still goes in the Host header)."""
    from websockets.sync.client import connect

    url = httpx.URL(server_url)
    target = proxy or f"{url.host}:{url.port}"
    headers = {"Authorization": f"token {token}"}
    transport = httpx.HTTPTransport()
    with httpx.Client(timeout=30, headers=headers, transport=transport) as client:
        direct = url.copy_with(host=target.split(":")[0], port=int(target.split(":")[1]))
        host = {"Host": f"{url.host}:{url.port}"}
        made = client.post(f"{direct}api/terminals", headers=host)
        made.raise_for_status()
        name = made.json()["name"]
        try:
            sock = socket.create_connection((target.split(":")[0], int(target.split(":")[1])))
            ws_url = f"{str(url).replace('http', 'ws', 1)}terminals/websocket/{name}"
            out = ""
            with connect(ws_url, sock=sock, additional_headers=headers) as ws:
                # the marker is split by quotes so that its echo never matches
                ws.send(json.dumps(["stdin", f"{command}; echo __coursehub_''terminal_done__\r"]))
                deadline = time.monotonic() + timeout
                while DONE + "\r\n" not in out and time.monotonic() < deadline:
                    message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                    if message[0] == "stdout":
                        out += message[1]
            return out.split(DONE)[0]
        finally:
            client.delete(f"{direct}api/terminals/{name}", headers=host)
