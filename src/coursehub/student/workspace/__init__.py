"""The server extension through which the coursehub service places course files in a
course server's workspace, done by the server itself, as the student (files.py).

Where students have Unix accounts on the hub's machine (local, Slurm) the service does
the same as the student directly; in containers and pods it has no account to act as,
so it asks the student's own server, with a token that opens this one server only
(monitor/server_tokens.py). Anything the server answers is the student's word: the
service only ever learns, through it, about the student's own files.

Routes, under the server's base URL (JSON in, JSON out, errors as {"message"}):

- POST coursehub/workspace/copy  {"source", "path", "mappings": [[folder, name], ...]}
  → {"sha256": copied file's hash, or null when the student's own file was kept}
- POST coursehub/workspace/hash  {"paths": [...]} → {"hashes": {path: sha256 or null}}
- GET  coursehub/workspace/read?path=…&limit=… → the file's bytes
- POST coursehub/workspace/reset {"source", "path", "kept"} → {"kept", "sha256"}

`source` and mapping folders are paths in the course's checkout, as this server sees it
(COURSEHUB_COURSE_DIR, set by the spawner); `path` is relative to the server's root.

The server also answers nbgitpuller's `git-pull` (a link to a named server,
/hub/user-redirect/<course>/git-pull, ends here): it sends the browser to the service's
page for such links, which opens the stable link of the notebook instead of cloning.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from coursehub.core.roles import SERVICE_NAME
from coursehub.student.workspace import files

ROUTE = "coursehub/workspace"
COURSE_DIR_ENV = "COURSEHUB_COURSE_DIR"
MAX_READ = 20 * 1024 * 1024


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "coursehub.student.workspace"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.utils import url_path_join

    handler = _handler_class()
    base = serverapp.web_app.settings["base_url"]
    pattern = url_path_join(base, ROUTE, "(copy|hash|read|reset)")
    settings = {"root": os.path.realpath(serverapp.root_dir)}
    git_pull = url_path_join(base, "git-pull")
    serverapp.web_app.add_handlers(
        ".*$", [(pattern, handler, settings), (git_pull, _git_pull_class())]
    )
    serverapp.log.info("coursehub workspace: course files placed in %s", settings["root"])


def service_page(query: str) -> str:
    """The service's page for nbgitpuller links, on the hub's host (this server may be on
    a subdomain of its own): only the query comes from the request."""
    host = os.environ.get("JUPYTERHUB_HOST", "")
    base = os.environ.get("JUPYTERHUB_BASE_URL", "/")
    return f"{host}{base}services/{SERVICE_NAME}/legacy/git-pull?{query}"


def _git_pull_class() -> type:
    from jupyter_server.base.handlers import JupyterHandler
    from tornado import web

    class GitPullRedirect(JupyterHandler):
        @web.authenticated
        def get(self) -> None:
            self.redirect(service_page(self.request.query))

    return GitPullRedirect


def _handler_class() -> type:
    # Imported here: jupyter_server is only there inside a server.
    from jupyter_server.auth.decorator import authorized
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class WorkspaceHandler(APIHandler):
        auth_resource = "contents"

        def initialize(self, root: str) -> None:
            self.root = root

        def _course_dir(self) -> str:
            course_dir = os.environ.get(COURSE_DIR_ENV, "")
            if not course_dir:
                raise files.FilesError(503, f"this server was started without {COURSE_DIR_ENV}")
            return course_dir

        def _body(self) -> dict:
            try:
                body = json.loads(self.request.body or b"{}")
            except ValueError:
                raise files.FilesError(400, "the body is not JSON") from None
            if not isinstance(body, dict):
                raise files.FilesError(400, "the body must be a JSON object")
            return body

        async def _answer(self, work: Any) -> None:
            try:
                result = await asyncio.to_thread(work)
            except files.FilesError as exc:
                self.set_status(exc.status)
                self.finish({"message": str(exc)})
                return
            except OSError as exc:
                self.set_status(500)
                self.finish({"message": f"{exc.strerror or exc}"})
                return
            if isinstance(result, bytes):
                self.set_header("Content-Type", "application/octet-stream")
                self.finish(result)
            else:
                self.finish(json.dumps(result))

        @web.authenticated
        @authorized
        async def get(self, op: str) -> None:
            if op != "read":
                raise web.HTTPError(405)
            path = self.get_argument("path", "")
            try:
                limit = min(int(self.get_argument("limit", str(MAX_READ))), MAX_READ)
            except ValueError:
                limit = MAX_READ
            await self._answer(lambda: files.read_file(self.root, path, limit))

        @web.authenticated
        @authorized
        async def post(self, op: str) -> None:
            await self._answer(lambda: self._post(op))

        def _post(self, op: str) -> dict:
            body = self._body()
            if op == "hash":
                paths = body.get("paths")
                if not isinstance(paths, list):
                    raise files.FilesError(400, "paths must be a list")
                return {"hashes": files.hash_files(self.root, paths)}
            if op == "copy":
                mappings = body.get("mappings") or []
                if not isinstance(mappings, list) or not all(
                    isinstance(m, list) and len(m) == 2 for m in mappings
                ):
                    raise files.FilesError(400, "mappings must be [[folder, name], ...]")
                pairs = [(str(a), str(b)) for a, b in mappings]
                copied = files.copy_notebook(
                    self.root, self._course_dir(), body.get("source"), body.get("path"), pairs
                )
                return {"sha256": copied}
            if op == "reset":
                kept = body.get("kept")
                if not isinstance(kept, str):
                    raise files.FilesError(400, "kept must be a file name")
                return files.reset_notebook(
                    self.root, self._course_dir(), body.get("source"), body.get("path"), kept
                )
            raise files.FilesError(405, f"no operation {op!r} here")

    return WorkspaceHandler
