"""One contract for what the service does in a student's course workspace (copy a
notebook for a link, reset it, read it to share, hash it for its status), always done
*as the student*, with two ways of doing it:

- `HostFiles`: where students have Unix accounts on this machine (local, Slurm, demo),
  a child process with the student's uid (courses/workspace.py);
- `ServerFiles`: where they do not (Docker, Kubernetes), the student's own course
  server does it (coursehub's server extension, student/workspace), asked with a token
  that opens that one server only (monitor/server_tokens.py, passed in). The server must be
  running: links start it first; for the rest the student is told to open the course.

Both take paths already checked against the course's checkout (courses/paths.py):
`source` and mapping folders are relative to the checkout, `path` to the workspace.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import quote
from weakref import WeakValueDictionary

import httpx

from coursehub.config.layout import DataLayout
from coursehub.core.subdomains import host_header
from coursehub.courses import workspace
from coursehub.courses.servers import workspace_for
from coursehub.courses.workspace import MAX_READ_BYTES, ResetResult, Student, WorkspaceError

EXTENSION = "coursehub/workspace"
TIMEOUT = 60.0
MAX_ANSWER = 1024 * 1024  # a JSON answer of the extension is far smaller
HOST_THREADS = 4  # students' file operations under way at once, on this machine
T = TypeVar("T")


class ServerTokenSource(Protocol):
    """Tokens that open one server each (monitor/server_tokens.ServerTokens)."""

    async def token(self, client: httpx.AsyncClient, username: str, server: str) -> str | None: ...

    def forget(self, username: str, server: str) -> None: ...


class StudentFiles(Protocol):
    """Course files in `username`'s workspace of `course`, placed as that student."""

    async def copy_notebook(
        self,
        username: str,
        course: str,
        source: str,
        path: str,
        mappings: Sequence[tuple[str, str]],
    ) -> str | None:
        """Copy the course's `source` to `path` unless the student has a file there; the
        copy's sha256, or None when theirs was kept. `mappings`: (course folder, link
        name) pairs, each a link beside the notebook into the read-only checkout."""
        ...

    async def hash_files(
        self, username: str, course: str, paths: list[str]
    ) -> dict[str, str | None]:
        """sha256 of each workspace file (None where missing or not a regular file)."""
        ...

    async def read_notebook(
        self, username: str, course: str, path: str, limit: int = MAX_READ_BYTES
    ) -> bytes:
        """The student's file, at most `limit` bytes (WorkspaceError beyond)."""
        ...

    async def reset_notebook(
        self, username: str, course: str, source: str, path: str, stamp: str
    ) -> ResetResult:
        """The course's version back at `path`; the student's kept beside it, renamed."""
        ...


@dataclass(frozen=True)
class HostFiles:
    """As the student's Unix account on this machine (courses/workspace.py).

    Each operation waits on a child process of the student's uid, which that student can
    stop (SIGSTOP) until its time-out: operations run in threads of their own, one at a
    time per student, so a student clicking their links while stopping the copies holds
    one thread, never the threads the hub or service signs in, spawns and reads with."""

    layout: DataLayout
    student_of: Callable[[str], Student]
    _threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(HOST_THREADS, "coursehub-student-files"),
        compare=False,
        repr=False,
    )
    _turns: WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=WeakValueDictionary, compare=False, repr=False
    )

    async def _as(self, username: str, run: Callable[[], T]) -> T:
        """`run` in this class's threads, after `username`'s earlier operations."""
        turn = self._turns.setdefault(username, asyncio.Lock())
        async with turn:
            return await asyncio.get_running_loop().run_in_executor(self._threads, run)

    def _at(self, username: str, course: str) -> tuple[Student, Path]:
        student = self.student_of(username)
        return student, workspace_for(student.home, course)

    def _course(self, course: str, relative: str) -> Path:
        return self.layout.course_repo(course) / relative

    async def copy_notebook(
        self,
        username: str,
        course: str,
        source: str,
        path: str,
        mappings: Sequence[tuple[str, str]],
    ) -> str | None:
        def run() -> str | None:
            student, folder = self._at(username, course)
            links = [(self._course(course, target), name) for target, name in mappings]
            return workspace.copy_notebook(
                student, folder, self._course(course, source), path, links
            )

        return await self._as(username, run)

    async def hash_files(
        self, username: str, course: str, paths: list[str]
    ) -> dict[str, str | None]:
        def run() -> dict[str, str | None]:
            student, folder = self._at(username, course)
            return workspace.hash_files(student, folder, paths)

        return await self._as(username, run)

    async def read_notebook(
        self, username: str, course: str, path: str, limit: int = MAX_READ_BYTES
    ) -> bytes:
        def run() -> bytes:
            student, folder = self._at(username, course)
            return workspace.read_notebook(student, folder, path, limit)

        return await self._as(username, run)

    async def reset_notebook(
        self, username: str, course: str, source: str, path: str, stamp: str
    ) -> ResetResult:
        def run() -> ResetResult:
            student, folder = self._at(username, course)
            return workspace.reset_notebook(
                student, folder, self._course(course, source), path, stamp
            )

        return await self._as(username, run)


@dataclass
class ServerFiles:
    """By the student's own course server (student/workspace), through the proxy."""

    proxy_url: str  # where the service reaches the proxy, e.g. http://127.0.0.1:8000
    base_url: str
    tokens: ServerTokenSource
    client: httpx.AsyncClient
    subdomain_host: str = ""

    def _url(self, username: str, course: str, op: str) -> str:
        owner, name = quote(username, safe=""), quote(course, safe="")
        return f"{self.proxy_url.rstrip('/')}{self.base_url}user/{owner}/{name}/{EXTENSION}/{op}"

    async def _call(
        self,
        username: str,
        course: str,
        op: str,
        *,
        payload: dict | None = None,
        params: dict[str, str] | None = None,
        limit: int = MAX_ANSWER,
    ) -> bytes:
        """The server's answer to `op`, at most `limit` bytes read (the server is the
        student's: it could answer without end)."""
        token = await self.tokens.token(self.client, username, course)
        if token is None:
            raise WorkspaceError("the hub gave no token to reach your course server; try again")
        headers = host_header(self.subdomain_host, username)
        headers["Authorization"] = f"token {token}"
        method = "GET" if payload is None else "POST"
        request = self.client.build_request(
            method,
            self._url(username, course, op),
            params=params,
            json=payload,
            headers=headers,
            timeout=TIMEOUT,
        )
        try:
            response = await self.client.send(request, stream=True)
            try:
                body = await _read_at_most(response, limit)
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise WorkspaceError(f"your course server did not answer ({exc})") from None
        status = response.status_code
        if status in (401, 403):
            self.tokens.forget(username, course)
        if status == 200:
            return body
        message = _message(body)
        if message is None and status in (403, 404, 424, 503):
            # the hub answered for a server that is not running (403 to a token-only
            # POST, 424/503 to a GET), or a server from before this extension (404)
            raise WorkspaceError(
                f"your server for {course!r} is not running or is too old for this; open a "
                "notebook of the course (or restart its server from the hub) and try again"
            )
        raise WorkspaceError(message or f"your course server answered HTTP {status}")

    async def copy_notebook(
        self,
        username: str,
        course: str,
        source: str,
        path: str,
        mappings: Sequence[tuple[str, str]],
    ) -> str | None:
        body = {"source": source, "path": path, "mappings": [list(m) for m in mappings]}
        answer = _json(await self._call(username, course, "copy", payload=body))
        copied = answer.get("sha256") if isinstance(answer, dict) else None
        return copied if isinstance(copied, str) else None

    async def hash_files(
        self, username: str, course: str, paths: list[str]
    ) -> dict[str, str | None]:
        if not paths:
            return {}
        answer = _json(await self._call(username, course, "hash", payload={"paths": paths}))
        hashes = answer.get("hashes") if isinstance(answer, dict) else None
        if not isinstance(hashes, dict):
            raise WorkspaceError("your course server answered something unexpected")
        # only what was asked, as text or None: the server is the student's
        return {p: h if isinstance(h := hashes.get(p), str) else None for p in paths}

    async def read_notebook(
        self, username: str, course: str, path: str, limit: int = MAX_READ_BYTES
    ) -> bytes:
        params = {"path": path, "limit": str(limit)}
        data = await self._call(username, course, "read", params=params, limit=limit + 1)
        if len(data) > limit:
            raise WorkspaceError(f"your notebook is larger than {limit // (1024 * 1024)} MB")
        return data

    async def reset_notebook(
        self, username: str, course: str, source: str, path: str, stamp: str
    ) -> ResetResult:
        body = {"source": source, "path": path, "kept": workspace.kept_name(path, stamp)}
        answer = _json(await self._call(username, course, "reset", payload=body))
        if not isinstance(answer, dict) or not isinstance(answer.get("sha256"), str):
            raise WorkspaceError("your course server answered something unexpected")
        kept = answer.get("kept")
        return ResetResult(kept if isinstance(kept, str) else None, answer["sha256"])


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The body, cut at `limit` bytes (a longer one is refused by the caller)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        raise WorkspaceError("your course server answered something unexpected") from None


def _message(body: bytes) -> str | None:
    """The extension's own error message ({"message"}), None if someone else answered."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if isinstance(answer, dict) and isinstance(answer.get("message"), str):
        return answer["message"][:300]
    return None
