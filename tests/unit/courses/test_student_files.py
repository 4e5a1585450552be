"""The one contract for course files placed as the student: which way the service
takes on each backend, and that the student's server (which the student controls) can
only ever tell the service about the student's own files.

The server is an httpx.MockTransport here, to answer as a hostile student's server
would; the real server extension is driven in
tests/integration/courses/test_student_files_server.py.
"""

from __future__ import annotations

import json

import httpx
import pytest

from coursehub.courses.student_files import HostFiles, ServerFiles
from coursehub.courses.workspace import WorkspaceError
from coursehub.service.context import context_of
from tests.helpers.fake_hub import build


class Tokens:
    """A token source that records what it was asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.forgotten: list[tuple[str, str]] = []

    async def token(self, client: httpx.AsyncClient, username: str, server: str) -> str:
        self.asked.append((username, server))
        return f"single-server-token-of-{username}-{server}"

    def forget(self, username: str, server: str) -> None:
        self.forgotten.append((username, server))


def _files(answer, seen: list[httpx.Request] | None = None) -> tuple[ServerFiles, Tokens]:  # noqa: ANN001
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return answer(request)

    tokens = Tokens()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ServerFiles("http://127.0.0.1:8000", "/", tokens, client), tokens


@pytest.mark.parametrize(
    ("backend", "kind"),
    [("local", HostFiles), ("slurm", HostFiles), ("demo", HostFiles)]
    + [("docker", ServerFiles), ("kubernetes", ServerFiles)],
)
def test_each_backend_places_files_its_way(backend: str, kind: type) -> None:
    app, _ = build(COURSEHUB_SPAWN_BACKEND=backend)
    assert isinstance(context_of(app).student_files, kind)


async def test_the_server_gets_its_own_token_and_the_checked_paths_only() -> None:
    seen: list[httpx.Request] = []
    files, tokens = _files(lambda r: httpx.Response(200, json={"sha256": "ab" * 32}), seen)
    copied = await files.copy_notebook("nina", "ds101", "w1/a.ipynb", "w1/a.ipynb", [("data", "d")])
    assert copied == "ab" * 32
    request = seen[0]
    assert str(request.url) == "http://127.0.0.1:8000/user/nina/ds101/coursehub/workspace/copy"
    assert request.headers["authorization"] == "token single-server-token-of-nina-ds101"
    body = json.loads(request.content)
    assert body == {"source": "w1/a.ipynb", "path": "w1/a.ipynb", "mappings": [["data", "d"]]}
    assert tokens.asked == [("nina", "ds101")]


async def test_whatever_the_server_answers_it_only_speaks_of_what_was_asked() -> None:
    hostile = {
        "hashes": {"w1/a.ipynb": 42, "../../other-student/x.ipynb": "ff", "w1/b.ipynb": "cd"}
    }
    files, _ = _files(lambda r: httpx.Response(200, json=hostile))
    hashes = await files.hash_files("nina", "ds101", ["w1/a.ipynb", "w1/b.ipynb", "w1/c.ipynb"])
    assert hashes == {"w1/a.ipynb": None, "w1/b.ipynb": "cd", "w1/c.ipynb": None}

    for answer in ([], {"sha256": None}, {"kept": "x"}):
        odd, _ = _files(lambda r, a=answer: httpx.Response(200, json=a))
        with pytest.raises(WorkspaceError, match="unexpected"):
            await odd.reset_notebook("nina", "ds101", "a.ipynb", "a.ipynb", "stamp")

    huge, _ = _files(lambda r: httpx.Response(200, content=b"x" * 2000))
    with pytest.raises(WorkspaceError, match="larger than"):
        await huge.read_notebook("nina", "ds101", "a.ipynb", limit=1000)


async def test_refusals_are_explained_and_a_refused_token_is_not_kept() -> None:
    refusing, tokens = _files(lambda r: httpx.Response(403, json={"message": "Forbidden"}))
    with pytest.raises(WorkspaceError, match="Forbidden"):
        await refusing.read_notebook("nina", "ds101", "a.ipynb")
    assert tokens.forgotten == [("nina", "ds101")]
    # the hub answering for a stopped server (no JSON message of the extension)
    stopped, _ = _files(lambda r: httpx.Response(503, text="<html>not running</html>"))
    with pytest.raises(WorkspaceError, match="not running"):
        await stopped.copy_notebook("nina", "ds101", "a.ipynb", "a.ipynb", [])

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    down, _ = _files(unreachable)
    with pytest.raises(WorkspaceError, match="did not answer"):
        await down.hash_files("nina", "ds101", ["a.ipynb"])


async def test_an_endless_answer_is_cut_not_read_into_memory() -> None:
    sent = {"bytes": 0}

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self):  # noqa: ANN204
            while sent["bytes"] < 1024**3:  # a gigabyte, if it were all read
                sent["bytes"] += 65536
                yield b"x" * 65536

    files, _ = _files(lambda r: httpx.Response(200, stream=Endless()))
    with pytest.raises(WorkspaceError, match="larger than"):
        await files.read_notebook("nina", "ds101", "a.ipynb", limit=1024 * 1024)
    assert sent["bytes"] < 4 * 1024 * 1024
    sent["bytes"] = 0
    with pytest.raises(WorkspaceError, match="unexpected"):
        await files.hash_files("nina", "ds101", ["a.ipynb"])
    assert sent["bytes"] < 4 * 1024 * 1024
