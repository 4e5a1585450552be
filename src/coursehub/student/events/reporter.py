"""Turns what happens in a course server into coursehub events.

- `notebook_opened`: the contents service served a notebook (at most once per
  notebook every few minutes: JupyterLab re-reads files while it works);
- `notebook_saved`: a notebook was saved; with the sha256 of the file and its tail;
- `cell_executed`: a kernel answered an execute request from the student's page
  (see kernel_watch);
- `kernel_started` / `kernel_died`: a kernel started; died (and was restarted by the
  server) or was restarted by the student.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, ClassVar

from coursehub.core.notebook_tail import tail_of
from coursehub.student.events.sender import EventSender

log = logging.getLogger("coursehub.student.events")

CONTENTS_SCHEMA = "https://events.jupyter.org/jupyter_server/contents_service/v1"
KERNEL_SCHEMA = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"
NOTEBOOK_SUFFIXES = {".ipynb", ".md", ".myst", ".mystnb", ".py", ".r", ".rmd", ".jl"}
OPEN_DEBOUNCE = 300.0  # seconds: one "opened" per notebook per five minutes
MAX_TAIL_BYTES = 20 * 1024 * 1024  # larger notebooks are reported without a tail


def _is_notebook(path: str) -> bool:
    p = PurePosixPath(path)
    if any(part.startswith(".") for part in p.parts):
        return False  # checkpoints, hidden folders
    return p.suffix.lower() in NOTEBOOK_SUFFIXES


def _now() -> str:
    return datetime.now(UTC).isoformat()


def summarise_file(os_path: str) -> tuple[str, dict[str, Any] | None]:
    """sha256 of the file and, for notebooks we can read, its tail."""
    with open(os_path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if len(data) > MAX_TAIL_BYTES:
        return digest, None
    try:
        if os_path.endswith(".ipynb"):
            return digest, tail_of(json.loads(data))
        import jupytext  # text notebooks (MyST, percent scripts): cells without outputs

        nb = jupytext.reads(data.decode("utf-8"), fmt=os.path.splitext(os_path)[1][1:])
        return digest, tail_of(nb)
    except Exception:  # a half-written or hand-broken file still counts as saved
        return digest, None


class Reporter:
    current: ClassVar[Reporter | None] = None  # kernel_watch finds it here

    def __init__(self, serverapp: Any, sender: EventSender, course: str):
        self.serverapp = serverapp
        self.sender = sender
        self.course = course
        self.url = sender.url
        self._opened: dict[str, float] = {}
        self._kernel_paths: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def install(cls, serverapp: Any, url: str, token: str, course: str) -> Reporter:
        reporter = cls(serverapp, EventSender(url, token), course)
        events = serverapp.event_logger
        events.add_listener(schema_id=CONTENTS_SCHEMA, listener=reporter.on_contents)
        events.add_listener(schema_id=KERNEL_SCHEMA, listener=reporter.on_kernel)
        cls.current = reporter
        return reporter

    def emit(self, type_: str, path: str, data: dict[str, Any] | None = None, **extra: Any) -> None:
        event = {
            "type": type_,
            "course": self.course,
            "path": path,
            "filename": PurePosixPath(path).name,
            "timestamp": _now(),
            "data": data or {},
            **extra,
        }
        self.sender.send(event)

    # contents: opened / saved

    async def on_contents(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        action, path = data.get("action"), str(data.get("path", "")).lstrip("/")
        if not _is_notebook(path):
            return
        if action == "get":
            now = time.monotonic()
            if now - self._opened.get(path, -OPEN_DEBOUNCE) >= OPEN_DEBOUNCE:
                self._opened[path] = now
                self.emit("notebook_opened", path)
        elif action == "save":
            self._opened[path] = time.monotonic()  # saving it means it is open
            try:
                os_path = self._os_path(path)
                digest, tail = await asyncio.to_thread(summarise_file, os_path)
            except OSError as exc:
                log.debug("cannot read %s after saving: %s", path, exc)
                return
            extra = {"tail": tail} if tail is not None else {}
            self.emit("notebook_saved", path, {"sha256": digest}, **extra)

    def _os_path(self, path: str) -> str:
        cm = self.serverapp.contents_manager
        get = getattr(cm, "_get_os_path", None)
        if get is not None:
            return get(path)
        return os.path.join(cm.root_dir, path)

    # kernels: started / died, and the notebook each one belongs to

    async def on_kernel(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        kernel_id = data.get("kernel_id")
        if not kernel_id or data.get("status") != "success":
            return
        action = data.get("action")
        if action == "start":
            self._watch_deaths(kernel_id)
            path = await self.path_of(kernel_id, wait=True)
            if path:
                self.emit("kernel_started", path, {"kernel": data.get("kernel_name", "")})
        elif action == "restart":
            path = await self.path_of(kernel_id)
            if path:
                self.emit("kernel_died", path, {"reason": "restarted"})

    def _watch_deaths(self, kernel_id: str) -> None:
        try:
            km = self.serverapp.kernel_manager.get_kernel(kernel_id)
        except KeyError:
            return

        def died() -> None:
            path = self._kernel_paths.get(kernel_id)
            if path:
                self.emit("kernel_died", path, {"reason": "died"})

        km.add_restart_callback(died, "restart")
        km.add_restart_callback(died, "dead")

    async def path_of(self, kernel_id: str, wait: bool = False) -> str | None:
        """The notebook whose session owns `kernel_id` (None for consoles and unknowns).

        A session records its kernel only after the kernel started, so a just-started
        kernel is looked up again for a few seconds."""
        if kernel_id in self._kernel_paths:
            return self._kernel_paths[kernel_id]
        for attempt in range(20 if wait else 1):
            if attempt:
                await asyncio.sleep(0.25)
            try:
                sessions = await self.serverapp.session_manager.list_sessions()
            except Exception:
                return None
            for session in sessions:
                kid = (session.get("kernel") or {}).get("id")
                if kid and session.get("type", "notebook") == "notebook":
                    self._kernel_paths[kid] = str(session.get("path", "")).lstrip("/")
            if kernel_id in self._kernel_paths:
                path = self._kernel_paths[kernel_id]
                return path if _is_notebook(path) else None
        return None

    # cells: called by kernel_watch for each execute reply to the student's page

    def cell_executed(self, kernel_id: str, data: dict[str, Any]) -> None:
        async def report() -> None:
            path = await self.path_of(kernel_id)
            if path:
                self.emit("cell_executed", path, data)

        task = asyncio.get_running_loop().create_task(report())
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)
