"""Long operations (pull, build, clone) shown in the browser while they run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from markupsafe import escape
from starlette.responses import StreamingResponse

from coursehub.core.errors import CoursehubError
from coursehub.service.identity import HubUser
from coursehub.service.templating import render

log = logging.getLogger("coursehub.service")

OUTPUT_MARK = "<!--output-->"
MAX_STREAM_LINES = 20_000  # a runaway build cannot make the page unbounded


def stream_operation(
    request: Request,
    user: HubUser,
    title: str,
    back_url: str,
    work: Callable[[Callable[[str], None]], tuple[bool, str]],
) -> StreamingResponse:
    """Run `work` in a thread and send its output to the browser as it comes.

    The page is plain HTML sent in pieces, so it needs no script. The work goes on
    to the end even if the browser leaves (a half-done pull or build helps nobody).
    """
    page = bytes(
        render(request, "operation.html", user=user, title=title, back_url=back_url).body
    ).decode()
    head, _, tail = page.partition(OUTPUT_MARK)
    tail = tail.removeprefix("</pre>")  # closed below, before the outcome
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def out(text: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, text)

    def run() -> tuple[bool, str]:
        try:
            return work(out)
        except CoursehubError as exc:
            return False, str(exc)
        except Exception:
            log.exception("%s failed", title)
            return False, "Something went wrong on our side; it has been logged."
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    async def body() -> AsyncIterator[str]:
        job = loop.run_in_executor(None, run)
        yield head
        lines = 0
        while (text := await queue.get()) is not None:
            lines += text.count("\n")
            if lines <= MAX_STREAM_LINES:
                yield str(escape(text))
        ok, message = await job
        status = "ok" if ok else "failed"
        yield f'</pre><p class="outcome {status}" id="outcome">{escape(message)}</p>'
        yield tail

    return StreamingResponse(
        body(),
        media_type="text/html; charset=utf-8",
        headers={"X-Accel-Buffering": "no"},
    )
